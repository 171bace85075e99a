"""Guessing links costs the hub nothing and gets the guesser nowhere (issue 8): unknown
tokens write no audit rows and take no write lock, but are counted a line a minute;
rate limits per client address and per link answer 429 with the GOV.UK page and
``Retry-After``; behind the documented proxy each client is itself, not 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text

from hub.clock import FrozenClock
from hub.store.models import AuditEvent
from hub.web import security
from tests.support.hubs import HubFactory, TestHub

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    """``await serve(hub)``: the hub's app (with a /test/whois route) and a client."""
    clients: list[Client] = []

    async def start(hub: TestHub) -> Client:
        def whois_route(app: web.Application) -> None:
            async def whois(request: web.Request) -> web.Response:
                return web.json_response({"ip": security.client_ip(request)})

            app.router.add_get("/test/whois", whois)

        client = TestClient(TestServer(hub.app(whois_route)))
        await client.start_server()
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            await client.close()


def guess() -> str:
    return f"/r/{secrets.token_urlsafe(32)}"


async def audit_rows(hub: TestHub) -> int:
    async with hub.ctx.sessions() as s, s.begin():
        return int(await s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def advance(hub: TestHub, seconds: float) -> None:
    assert isinstance(hub.clock, FrozenClock)
    hub.clock.advance(timedelta(seconds=seconds))


# --- unknown tokens --------------------------------------------------------------------------


async def test_guessed_tokens_write_no_audit_rows_and_are_counted_a_line_a_minute(
    make_hub: HubFactory, serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await make_hub()  # the default limits let a hundred-odd through in a minute
    client = await serve(hub)
    before = await audit_rows(hub)
    guesses = [guess() for _ in range(100)]
    for path in guesses:
        response = await client.get(path)
        assert response.status == 404
    for path in guesses[:10]:
        response = await client.get(f"{path}/code")
        assert response.status == 404
    # No row in the audit chain for any of them
    assert await audit_rows(hub) == before
    # A line a minute instead, once the minute is over, naming no token
    caplog.set_level(logging.INFO, logger="hub.tally")
    advance(hub, 60)
    assert (await client.get(guess())).status == 404
    lines = [r.getMessage() for r in caplog.records if "event=web.minute" in r.getMessage()]
    assert lines == ["event=web.minute minute=2026-03-12T09:00Z link.view.unusable=110"]
    assert hub.ctx.attempts.counts() == {"link.view.unusable": 1}


async def test_a_guessed_token_is_answered_while_a_writer_holds_the_database(
    make_hub: HubFactory, serve: Any
) -> None:
    # Given a long write in progress (SQLite: BEGIN IMMEDIATE holds the write lock)
    hub = await make_hub()
    client = await serve(hub)
    async with hub.ctx.sessions() as writer, writer.begin():
        await writer.execute(text("SELECT 1"))
        # When a guessed link is opened, it is answered without waiting for the writer
        # (the bound only turns a hang on the lock's 60-second busy timeout into a failure)
        async with asyncio.timeout(30):
            response = await client.get(guess())
        assert response.status == 404


# --- rate limits -----------------------------------------------------------------------------


async def test_a_client_over_its_limit_gets_429_with_retry_after_and_the_error_page(
    make_hub: HubFactory, serve: Any
) -> None:
    hub = await make_hub(web={"rate_limit_per_client": 3, "rate_limit_per_link": 0})
    client = await serve(hub)
    for _ in range(3):
        assert (await client.get(guess())).status == 404
    response = await client.get(guess())
    assert response.status == 429
    assert response.headers["Retry-After"] == "20"  # one more every 60 / 3 seconds
    page = await response.text()
    assert "Too many attempts" in page and "govuk-template" in page
    assert "Content-Security-Policy" in response.headers
    assert (await client.post(f"{guess()}/code")).status == 429
    # A monitor and a page's styles always get through
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/static/hub/init.js")).status == 200
    # In 20 seconds one more request may go, and then none again
    advance(hub, 20)
    assert (await client.get(guess())).status == 404
    assert (await client.get(guess())).status == 429
    # The refusals are counted a minute at a time, not logged one by one
    assert hub.ctx.attempts.counts()["web.limited.client"] == 3


async def test_one_link_over_its_limit_gets_429_while_other_links_go_on(
    make_hub: HubFactory, serve: Any
) -> None:
    hub = await make_hub(web={"rate_limit_per_client": 0, "rate_limit_per_link": 2})
    client = await serve(hub)
    hammered = guess()
    assert (await client.get(hammered)).status == 404
    assert (await client.get(f"{hammered}/code")).status == 404
    response = await client.get(hammered)
    assert response.status == 429 and response.headers["Retry-After"] == "30"
    assert (await client.post(f"{hammered}/verify")).status == 429
    assert (await client.get(guess())).status == 404
    assert hub.ctx.attempts.counts()["web.limited.link"] == 2


async def test_no_limits_when_set_to_0(make_hub: HubFactory, serve: Any) -> None:
    hub = await make_hub(web={"rate_limit_per_client": 0, "rate_limit_per_link": 0})
    client = await serve(hub)
    path = guess()
    statuses = {(await client.get(path)).status for _ in range(250)}
    assert statuses == {404}


async def test_behind_the_documented_proxy_each_client_is_itself_with_its_own_limit(
    make_hub: HubFactory, serve: Any
) -> None:
    # Given the hub behind nginx on this machine ([web] trusted_proxies: the loopback)
    hub = await make_hub(
        web={"trusted_proxies": ["127.0.0.1/32", "::1/128"], "rate_limit_per_client": 2}
    )
    client = await serve(hub)
    # nginx sends the client's address in X-Forwarded-For
    first = {"X-Forwarded-For": "203.0.113.1"}
    response = await client.get("/test/whois", headers=first)
    assert (await response.json())["ip"] == "203.0.113.1"
    assert (await client.get(guess(), headers=first)).status == 404
    assert (await client.get(guess(), headers=first)).status == 429
    # Another client behind the same proxy has its own allowance
    second = {"X-Forwarded-For": "203.0.113.2"}
    assert (await client.get(guess(), headers=second)).status == 404
    response = await client.get("/test/whois", headers=second)
    assert (await response.json())["ip"] == "203.0.113.2"
