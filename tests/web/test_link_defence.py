"""Links cannot be turned against the agency (issue 8): someone holding a forwarded link
cannot lock out an agency that has signed in, old codes cost nothing, the co-ordinator
hears once when a link locks or runs out of codes, and a fresh link can be sent for the
same request.

A real hub (the case study taken in from real Dovecot, requests created by the service,
codes mailed through real SMTP into the agency's real mailbox) serves the pages on a
loopback port; each ``Agent`` is one browser with its own cookies.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.services import info_requests, links
from hub.store.models import AuditEvent, OutboxMessage, RequestLink
from tests.support.hub import TEAM_LEADER
from tests.web.conftest import CASE_NAMES, SCHOOL, AgentFactory, World
from tests.web.test_agency_access import answer_form, assert_no_names


async def link_row(world: World, request_id: int) -> RequestLink:
    """The request's newest link."""
    async with world.ctx.sessions() as s, s.begin():
        found = await s.scalar(
            select(RequestLink)
            .where(RequestLink.request_id == request_id)
            .order_by(RequestLink.id.desc())
        )
        assert found is not None
        return found


async def outbox_count(world: World, kind: str) -> int:
    async with world.ctx.sessions() as s, s.begin():
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == kind)
        return int(await s.scalar(query) or 0)


async def audited(world: World, action: str) -> list[AuditEvent]:
    async with world.ctx.sessions() as s, s.begin():
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await s.scalars(query)).all())


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_an_old_used_or_expired_code_costs_no_try(world: World, agents: AgentFactory) -> None:
    # Given an agency that signed in with its code (so that code is used up)
    created = await world.create(SCHOOL)
    owner = agents()
    status, html = await owner.sign_in(world, SCHOOL, created.token)
    assert status == 200 and "Lily Clarke" in html
    used = await world.code(SCHOOL)
    # When someone sends the used code, and others, with no code pending
    stranger = agents()
    await stranger.get(f"/r/{created.token}/code")
    for guess in (used, used, "000000", "123456", "999999", used):
        status, html = await stranger.post(f"/r/{created.token}/verify", {"code": guess})
        # Then each is told to send a new code, and no try is spent
        assert status == 200 and "That code has expired" in html, status
        assert "You have 5 tries left" in html
        assert_no_names(html)
    link = await link_row(world, created.id)
    assert link.code_tries == 0 and link.locked_at is None
    # A pending code that has run out of time costs nothing either
    status, _ = await stranger.post(f"/r/{created.token}/code")
    assert status == 200
    pending = await world.code(SCHOOL)
    world.clock.advance(timedelta(minutes=world.settings.requests.code_minutes, seconds=1))
    for _ in range(6):
        status, html = await stranger.post(f"/r/{created.token}/verify", {"code": wrong(pending)})
        assert status == 200 and "That code has expired" in html
    link = await link_row(world, created.id)
    assert link.code_tries == 0 and link.locked_at is None
    assert len(await audited(world, "link.code.stale")) == 12
    assert await audited(world, "link.code.wrong") == []


async def test_wrong_codes_from_another_browser_do_not_end_a_signed_in_session(
    world: World, agents: AgentFactory
) -> None:
    # Given the agency signed in
    created = await world.create(SCHOOL)
    owner = agents()
    status, html = await owner.sign_in(world, SCHOOL, created.token)
    assert status == 200 and "Lily Clarke" in html
    # When someone else with the link has a code sent and tries five wrong ones
    stranger = agents()
    await stranger.get(f"/r/{created.token}")
    await stranger.post(f"/r/{created.token}/code")
    fresh = await world.code(SCHOOL)
    for _ in range(4):
        status, _ = await stranger.post(f"/r/{created.token}/verify", {"code": wrong(fresh)})
        assert status == 200
    status, html = await stranger.post(f"/r/{created.token}/verify", {"code": wrong(fresh)})
    # Then the link is locked to codes (the stranger is out) ...
    assert status == 403 and "This link is locked" in html
    status, html = await stranger.get("/request")
    assert status == 403 and "Your session has ended" in html
    assert (await link_row(world, created.id)).locked_at is not None
    # ... but the agency's session lives on: it sees the request and answers it
    status, html = await owner.get("/request")
    assert status == 200 and "Lily Clarke" in html
    status, html = await owner.post("/request", answer_form())
    assert status == 200 and "Answer received" in html
    shown = await info_requests.show_request(world.ctx, created.ref, "cc@hub.test")
    assert shown["status"] == "answered"


async def test_a_locked_link_and_used_up_codes_alert_the_coordinator_once(
    world: World, agents: AgentFactory
) -> None:
    # Given a link whose codes are all used up by someone asking again and again
    used_up = await world.create(SCHOOL)
    agent = agents()
    await agent.get(f"/r/{used_up.token}")
    for _ in range(world.settings.requests.max_codes_per_link):
        status, _ = await agent.post(f"/r/{used_up.token}/code")
        assert status == 200
    # When more codes are asked for
    for _ in range(3):
        await agent.get("/r/x")  # a page with a form (the CSRF token a browser would have)
        status, html = await agent.post(f"/r/{used_up.token}/code")
        assert status == 429 and "Too many codes" in html
    # Then the co-ordinator is alerted once
    assert await outbox_count(world, "alert:link-codes-exhausted") == 1
    # And a link locked by wrong codes alerts once however often it is tried after
    locked = await world.create(SCHOOL)
    other = agents()
    await other.get(f"/r/{locked.token}")
    await other.post(f"/r/{locked.token}/code")
    code = await world.code(SCHOOL)
    for _ in range(world.settings.requests.code_tries + 3):
        await other.get("/r/x")
        await other.post(f"/r/{locked.token}/verify", {"code": wrong(code)})
    await other.get("/r/x")
    status, _ = await other.post(f"/r/{locked.token}/code")
    assert status == 403
    assert await outbox_count(world, "alert:link-locked") == 1
    await world.deliver()
    alerts = [str(m["Subject"]) for m in world.stack.smtp.messages(to=TEAM_LEADER)]
    about_links = [s for s in alerts if "Link for" in s]
    assert sorted(about_links) == sorted(
        [
            f"[MARRAC] Link for {used_up.ref} has used all its one-time codes",
            f"[MARRAC] Link for {locked.ref} locked after wrong codes",
        ]
    )
    for message in world.stack.smtp.messages(to=TEAM_LEADER):
        if "Link for" in str(message["Subject"]):
            body = message.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert "requests reissue" in text
            assert not any(name in text for name in CASE_NAMES)


async def test_reissue_mails_a_fresh_unlocked_link_for_the_same_request(
    world: World, agents: AgentFactory
) -> None:
    # Given a link locked by someone else's wrong codes
    created = await world.create(SCHOOL)
    stranger = agents()
    await stranger.get(f"/r/{created.token}")
    await stranger.post(f"/r/{created.token}/code")
    code = await world.code(SCHOOL)
    for _ in range(world.settings.requests.code_tries):
        await stranger.post(f"/r/{created.token}/verify", {"code": wrong(code)})
    status, _ = await stranger.get(f"/r/{created.token}")
    assert status == 403
    old_path = f"/r/{created.token}"
    # When the co-ordinator reissues it
    assert await links.reissue(world.ctx, created.ref, "cc@hub.test") == created.ref
    await world.deliver()
    # Then the agency has a new mail for the same reference, with a new link and no names
    mails = world.mails(SCHOOL, created.ref)
    newest = mails[-1].get_content()
    assert "the earlier link no longer works" in newest
    assert not any(name in newest for name in CASE_NAMES)
    fresh = world.link_path(SCHOOL, created.ref)
    assert fresh != old_path
    # The old link is dead (the page of any unusable link), the new one is unlocked
    agent = agents()
    status, html = await agent.get(old_path)
    assert status == 404 and "Page not found" in html
    status, html = await agent.sign_in(world, SCHOOL, fresh.removeprefix("/r/"))
    assert status == 200 and created.ref in html and "Lily Clarke" in html
    (event,) = await audited(world, "request.reissue")
    assert event.actor == "cc@hub.test" and event.object_ref == created.ref
    # An answered request has nothing to reissue
    status, html = await agent.post("/request", answer_form())
    assert status == 200 and "Answer received" in html
    with pytest.raises(info_requests.RequestError, match="answered"):
        await links.reissue(world.ctx, created.ref, "cc@hub.test")
