"""What makes link pages fast, held to what makes them right: the audit events of looks
made together share one transaction, yet each is committed before its page is sent; a
landing page is rendered once per link and state, yet every browser gets its own CSRF
token and every state its own page. (Speed itself is measured by tests/bench/bench_web.py.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, select

from connectors.memory import MemorySource
from hub.services import audit, info_requests, links
from hub.store.db import READ_ONLY
from hub.store.models import AuditEvent
from tests.support.agencies import AGENCIES
from tests.support.hub import FIXTURES
from tests.support.hubs import HubFactory, TestHub
from tests.web.conftest import SCHOOL, AgentFactory, World, csrf_from

LOOKS = 20


async def test_looks_made_together_share_audit_transactions_each_committed_before_it_returns(
    make_hub: HubFactory,
) -> None:
    # Given a request with a link, and a count of the transactions that write
    hub = await make_hub(agencies=AGENCIES)
    assert isinstance(hub.source, MemorySource)
    hub.source.deliver((FIXTURES / "referrals" / "01-case-study.eml").read_bytes())
    case_ref = (await hub.drain()).results[0].case_ref
    assert case_ref is not None
    created = await info_requests.create_request(
        hub.ctx, case_ref=case_ref, agency_slug=SCHOOL, actor="cc@hub.test"
    )
    writes = 0

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal writes
        writes += statement.strip().upper() == "BEGIN IMMEDIATE"

    event.listen(hub.ctx.engine.sync_engine, "before_cursor_execute", count)
    seen: dict[str, int] = {}

    async def look(n: int) -> None:
        client = f"192.0.2.{n}"
        assert (await links.landing(hub.ctx, created.token, client)).state == "ok"
        seen[client] = await _audited(hub, client)  # committed by the time it returned

    # When twenty browsers look at once
    await asyncio.gather(*(look(n) for n in range(LOOKS)))
    event.remove(hub.ctx.engine.sync_engine, "before_cursor_execute", count)
    # Then every look was audited before its call returned, in fewer transactions
    assert seen == {f"192.0.2.{n}": 1 for n in range(LOOKS)}
    assert 1 <= writes < LOOKS / 2, writes
    rows = await _rows(hub)
    assert rows >= LOOKS
    async with hub.ctx.sessions(**READ_ONLY) as s, s.begin():
        assert await audit.verify(s) == (rows, None)  # one chain, unbroken


async def _audited(hub: TestHub, client: str) -> int:
    async with hub.ctx.sessions(**READ_ONLY) as s, s.begin():  # no write: not counted
        rows = (await s.scalars(select(AuditEvent.detail))).all()
    return sum(1 for detail in rows if detail.get("client") == client)


async def _rows(hub: TestHub) -> int:
    async with hub.ctx.sessions(**READ_ONLY) as s, s.begin():
        return int(await s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


async def test_a_landing_page_is_rendered_once_yet_each_browser_gets_its_own_csrf_token(
    world: World, agents: AgentFactory
) -> None:
    created = await world.create(SCHOOL)
    first, second = agents(), agents()
    status, page_one = await first.get(f"/r/{created.token}")
    assert status == 200
    status, page_two = await second.get(f"/r/{created.token}")
    assert status == 200
    # Two browsers, two CSRF tokens, and otherwise the same page, naming the link
    one, two = csrf_from(page_one), csrf_from(page_two)
    assert one != two
    assert page_two == page_one.replace(one, two)
    assert f'action="/r/{created.token}/code"' in page_one
    assert "slot-" not in page_one  # no marker left unfilled
    # And each browser's token is the one its session holds: the form works for both
    for agent in (first, second):
        status, html = await agent.post(f"/r/{created.token}/code")
        assert status == 200 and "Check your email" in html, html[:300]


async def test_a_landing_page_changes_with_its_link_at_once(
    world: World, agents: AgentFactory, served: str
) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    status, _ = await agent.get(f"/r/{created.token}")
    assert status == 200
    await info_requests.withdraw(world.ctx, created.ref, "cc@hub.test")
    status, html = await agent.get(f"/r/{created.token}")
    assert status == 404, status  # not the cached page of a link that worked a moment ago
    assert created.ref not in html
