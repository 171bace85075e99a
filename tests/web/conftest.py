"""Fixtures for the web layer: a real hub (settings, keys, migrated SQLite) behind the
web application, served either in the test's own event loop (for HTTP-level tests with
aiohttp's client) or in a background thread (for the browser: Playwright's sync API
cannot run inside a running asyncio loop), and Debian's Chromium driven by Playwright.

Chromium comes from Debian (``scripts/setup-web.sh``): ``playwright install`` would
download a browser, which these machines cannot. When it is missing, browser tests skip
loudly, or fail on CI (``tests.support.services.require``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import smtplib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp_jinja2
import jinja2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.clock import FrozenClock
from hub.config import Settings
from hub.services import info_requests
from hub.services.context import Context, open_context
from hub.services.info_requests import Created
from hub.web import security
from hub.web.app import ROOT, build_app, start_web
from tests.support.agencies import AGENCIES, GP, HEALTH_VISITOR, MAILBOX, SCHOOL
from tests.support.hub import FIXTURES, PASSWORD, REFERRALS
from tests.support.hubs import START, HubFactory, TestHub, build_hub
from tests.support.mail_stack import MailStack
from tests.support.services import free_port, require

__all__ = ["GP", "HEALTH_VISITOR", "SCHOOL", "START"]

CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Debian's chromium as root, headless, and silent towards the (closed) network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

Configure = Callable[[web.Application], None]


def add_templates(app: web.Application, templates: dict[str, str]) -> None:
    """Make test-only templates (by name) renderable in ``app``, before its own."""
    env = aiohttp_jinja2.get_env(app)
    assert env.loader is not None
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader(templates), env.loader])


@pytest.fixture
async def hub(make_hub: HubFactory) -> TestHub:
    """A fresh hub on SQLite in ``tmp_path``, its clock frozen at ``START``. Each test
    has its own copy of the keys, so rotating them in one test leaks into no other."""
    return await make_hub()


ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def make_client(hub: TestHub) -> AsyncIterator[ClientFactory]:
    """``await make_client(configure)``: the hub's app (plus test-only routes added by
    ``configure``) on a loopback port, with an aiohttp client that keeps cookies."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def make(configure: Configure | None = None) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(hub.app(configure)))
        await client.start_server()
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


# --- a hub in a loop thread, for the browser ----------------------------------------------


class LoopThread:
    """An event loop in a thread of its own: ``run(coro)`` from the test's thread (the
    browser's: Playwright's sync API cannot run inside a running asyncio loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hub-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[Any], timeout: float = 60) -> Any:
        async def wrap() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def close(self) -> None:
        async def finish() -> None:
            await self.loop.shutdown_asyncgens()

        self.run(finish())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


@contextlib.contextmanager
def serve_from(thread: LoopThread, app: web.Application, port: int = 0) -> Iterator[str]:
    """Serve ``app`` on a loopback port from ``thread``'s loop: its URL while open."""
    running = thread.run(start_web(app, "127.0.0.1", port))
    try:
        yield running.url
    finally:
        thread.run(running.stop())


@dataclass(frozen=True)
class LiveHub:
    """A hub's web app served from a loop thread: the browser's address for it."""

    url: str


@pytest.fixture(scope="module")
def live_routes() -> Configure | None:
    """Test-only routes for ``live_hub``: a browser test module overrides this."""
    return None


@pytest.fixture(scope="module")
def live_hub(
    tmp_path_factory: pytest.TempPathFactory,
    initialised_hub_dir: Path,
    live_routes: Configure | None,
) -> Iterator[LiveHub]:
    thread = LoopThread()
    try:
        data_dir = tmp_path_factory.mktemp("live-hub")
        opened = thread.run(build_hub(data_dir, template=initialised_hub_dir))
        try:
            with serve_from(thread, opened.app(live_routes)) as url:
                yield LiveHub(url)
        finally:
            thread.run(opened.close())
    finally:
        thread.close()


# --- Chromium ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright's sync API, for one test module.

    Not for the session: while Playwright's sync API is started, the main thread counts
    as running an event loop, and pytest-asyncio's tests after it could not start theirs.
    """
    require(
        "chromium",
        CHROMIUM.exists(),
        f"{CHROMIUM} not found: run scripts/setup-web.sh (as root it installs chromium)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("playwright", False, "the playwright package is missing: scripts/setup-web.sh")
    require("axe-core", AXE.exists(), f"{AXE} not found: run scripts/setup-web.sh (npm ci)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


# --- the agency pages: a hub with a real case, real mail, and clients ---------------------
#
# A case made the way production makes it: the case-study referral delivered into real
# Dovecot and drained by intake; agencies synced from a directory file; requests created
# (signed, sealed, queued) by the service, and mailed through the real SMTP front end
# into the agencies' real mailboxes.

# Names from the case study: none may appear on a page before the code is proved.
CASE_NAMES = ("Clarke", "Emma", "Lily", "Hughes", "Noah")
_LINK = re.compile(r"https?://[^\s/]+(/r/[A-Za-z0-9_-]{43})\b")
_CODE = re.compile(r"one-time code is: (\d{6})\b")


@dataclass
class World:
    """A test hub on real edges holding the case study, its agencies' mailboxes in
    Dovecot, and a context for the test's own service calls."""

    hub: TestHub
    stack: MailStack
    case_ref: str

    @property
    def settings(self) -> Settings:
        return self.hub.settings

    @property
    def ctx(self) -> Context:
        return self.hub.ctx

    @property
    def clock(self) -> FrozenClock:
        assert isinstance(self.hub.clock, FrozenClock)
        return self.hub.clock

    async def create(self, slug: str = SCHOOL, **kwargs: Any) -> Created:
        return await info_requests.create_request(
            self.ctx, case_ref=self.case_ref, agency_slug=slug, actor="cc@hub.test", **kwargs
        )

    async def deliver(self) -> int:
        return await self.hub.deliver()

    def mails(self, slug: str, subject_part: str = "") -> list[EmailMessage]:
        """The agency's mailbox in Dovecot, oldest first (read over IMAP)."""
        found = []
        for raw in self.stack.dovecot.fetch_all(MAILBOX[slug]):
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            if subject_part in str(msg["Subject"]):
                found.append(msg)
        return found

    async def code(self, slug: str) -> str:
        """Deliver the outbox, then the newest one-time code in the agency's mailbox."""
        await self.deliver()
        codes = [_CODE.search(m.get_content()) for m in self.mails(slug, "one-time code")]
        assert codes and codes[-1] is not None, "no code mail in the mailbox"
        return codes[-1].group(1)

    def link_path(self, slug: str, ref: str) -> str:
        """The ``/r/<token>`` path from the newest request mail for ``ref``."""
        mails = self.mails(slug, ref)
        assert mails, f"no mail about {ref} for {slug}"
        found = _LINK.search(mails[-1].get_content())
        assert found is not None, "no link in the request mail"
        return found.group(1)


def add_agency_mailboxes(stack: MailStack) -> None:
    for address in MAILBOX.values():
        if address not in stack.dovecot.users:
            stack.dovecot.add_user(address, PASSWORD)


async def open_world(
    stack: MailStack,
    data_dir: Path,
    *,
    db_url: str | None = None,
    template: Path | None = None,
    clock: FrozenClock | None = None,
    public_url: str = "http://127.0.0.1:8080",
    referral_over_smtp: bool = False,
) -> World:
    """A hub on real edges (``build_hub``) with the agencies synced and the case study
    taken in by intake.

    The referral is put straight into the intake mailbox (IMAP APPEND), or with
    ``referral_over_smtp`` sent through the SMTP front end, which delivers it to Dovecot
    over LMTP before it answers."""
    await asyncio.to_thread(add_agency_mailboxes, stack)
    opened = await build_hub(
        data_dir,
        db=db_url,
        edges=stack,
        clock=clock,
        template=template,
        agencies=AGENCIES,
        hub={"public_url": public_url},
        replies={"password": PASSWORD},
    )
    try:
        raw = (FIXTURES / "referrals" / "01-case-study.eml").read_bytes()
        await asyncio.to_thread(put_referral, stack, raw, over_smtp=referral_over_smtp)
        report = await opened.drain()
        # Log out now: the source reconnects by itself if a test drains again.
        await opened.source.close()
        assert report.outcomes == {"case": 1}, report.outcomes
        case_ref = report.results[0].case_ref
        assert case_ref is not None
    except BaseException:
        await opened.close()
        raise
    return World(opened, stack, case_ref)


def put_referral(stack: MailStack, raw: bytes, *, over_smtp: bool) -> None:
    """Into the intake mailbox: by IMAP APPEND, or through the SMTP front end."""
    if not over_smtp:
        stack.dovecot.append(REFERRALS, raw)
        return
    with smtplib.SMTP("127.0.0.1", stack.smtp.port, timeout=10) as smtp:
        smtp.sendmail("sarah.holt@lancashire.police.uk", [REFERRALS], raw)


@pytest.fixture
async def world(
    mail_stack: MailStack, tmp_path: Path, initialised_hub_dir: Path
) -> AsyncIterator[World]:
    """The case study on SQLite, in the test's own event loop."""
    opened = await open_world(mail_stack, tmp_path / "hub", template=initialised_hub_dir)
    try:
        yield opened
    finally:
        await opened.hub.close()


class Agent:
    """One browser's worth of HTTP: its own cookies, no JavaScript. Reads the CSRF
    token from the last page, as a browser submits the form it was shown."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), base_url=base_url
        )
        self.last = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(path, allow_redirects=False) as response:
            self.last = await response.text()
            return response.status, self.last

    async def post(
        self,
        path: str,
        data: Any = None,
        *,
        csrf: bool = True,
        follow: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """POST a form (a dict, or FormData for multipart) with the CSRF token of the last
        page shown, as a browser would; ``csrf=False`` sends only what ``data`` holds."""
        if csrf:
            token = csrf_from(self.last)
            if isinstance(data, aiohttp.FormData):
                data.add_field(security.CSRF_FIELD, token)
            else:
                data = {security.CSRF_FIELD: token, **(data or {})}
        async with self.session.post(
            path, data=data, allow_redirects=follow, headers=headers
        ) as response:
            self.last = await response.text()
            return response.status, self.last

    async def sign_in(self, world: World, slug: str, token: str) -> tuple[int, str]:
        """Open the link, have a code sent, read it from the mailbox, enter it: the
        request page (status, html)."""
        status, _ = await self.get(f"/r/{token}")
        assert status == 200, status
        status, _ = await self.post(f"/r/{token}/code")
        assert status == 200, status
        code = await world.code(slug)
        return await self.post(f"/r/{token}/verify", {"code": code})


def csrf_from(html: str) -> str:
    found = re.search(rf'name="{security.CSRF_FIELD}" value="([^"]+)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


AgentFactory = Callable[[], Agent]


@pytest.fixture
async def served(world: World) -> AsyncIterator[str]:
    """The hub's web app on a loopback port, serving ``world`` from the test's loop."""
    running = await start_web(world.hub.app(), "127.0.0.1", 0)
    try:
        yield running.url
    finally:
        await running.stop()


@pytest.fixture
async def agents(served: str) -> AsyncIterator[AgentFactory]:
    """``agents()``: a new browser-like client of the served hub (own cookie jar)."""
    made: list[Agent] = []

    def make() -> Agent:
        agent = Agent(served)
        made.append(agent)
        return agent

    try:
        yield make
    finally:
        for agent in made:
            await agent.close()


# --- the same from a thread, for Playwright's sync API -------------------------------------


@dataclass
class LiveWorld:
    """``World`` plus the hub's web app, both living in a :class:`LoopThread`: the
    server's Context is its own (made in that loop), the test's is ``world.ctx``."""

    thread: LoopThread
    world: World
    server_ctx: Context
    url: str

    def run(self, coro: Awaitable[Any], timeout: float = 60) -> Any:
        return self.thread.run(coro, timeout)


@contextlib.contextmanager
def live_world(
    stack: MailStack, data_dir: Path, template: Path, *, referral_over_smtp: bool = False
) -> Iterator[LiveWorld]:
    thread = LoopThread()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clock = FrozenClock(START)
    try:
        world = thread.run(
            open_world(
                stack,
                data_dir,
                template=template,
                clock=clock,
                public_url=url,
                referral_over_smtp=referral_over_smtp,
            )
        )
        try:
            server_ctx = thread.run(open_context(world.settings, clock))
            try:
                with serve_from(thread, build_app(server_ctx, world.hub.ring), port):
                    yield LiveWorld(thread, world, server_ctx, url)
            finally:
                thread.run(server_ctx.close())
        finally:
            thread.run(world.hub.close())
    finally:
        thread.close()
