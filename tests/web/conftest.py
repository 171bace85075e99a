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
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.clock import FrozenClock
from hub.config import Settings, for_tests
from hub.crypto import keys
from hub.crypto.keys import KeyRing
from hub.services.context import Context, initialise, open_context
from hub.store import migrate
from hub.web.app import ROOT, build_app, start_web
from tests.support.services import require

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
START = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)

Configure = Callable[[web.Application], None]


@dataclass
class Hub:
    """A hub's settings, context and keys, as ``marrac-hub serve`` would build them."""

    settings: Settings
    ctx: Context
    ring: KeyRing
    clock: FrozenClock

    def app(self, configure: Configure | None = None) -> web.Application:
        app = build_app(self.ctx, self.ring)
        if configure is not None:
            configure(app)
        return app


def add_templates(app: web.Application, templates: dict[str, str]) -> None:
    """Make test-only templates (by name) renderable in ``app``, before its own."""
    env = aiohttp_jinja2.get_env(app)
    assert env.loader is not None
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader(templates), env.loader])


async def open_hub(data_dir: Path, *, template: Path | None = None, **overrides: Any) -> Hub:
    """A hub in ``data_dir``: initialised there, or copied from an initialised
    ``template`` (keys and migrated database: much faster than migrating again)."""
    if template is not None:
        shutil.copytree(template, data_dir, dirs_exist_ok=True)
    settings = for_tests(data_dir, **overrides)
    if template is None:
        await initialise(settings)
    clock = FrozenClock(START)
    ctx = await open_context(settings, clock)
    return Hub(settings, ctx, keys.load(settings.hub.key_dir), clock)


@pytest.fixture(scope="session")
def initialised_hub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keys and a migrated SQLite database, made once and copied by each ``hub``."""
    data_dir = tmp_path_factory.mktemp("hub-template")
    settings = for_tests(data_dir)
    keys.ensure(settings.hub.key_dir)
    migrate.upgrade(settings.database.url)
    return data_dir


@pytest.fixture
async def hub(tmp_path: Path, initialised_hub_dir: Path) -> AsyncIterator[Hub]:
    """A fresh hub on SQLite in ``tmp_path``, its clock frozen at ``START``. Each test
    has its own copy of the keys, so rotating them in one test leaks into no other."""
    opened = await open_hub(tmp_path / "hub", template=initialised_hub_dir)
    try:
        yield opened
    finally:
        await opened.ctx.close()


ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def make_client(hub: Hub) -> AsyncIterator[ClientFactory]:
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


# --- a hub in a background thread, for the browser --------------------------------------


class LiveHub:
    """The hub's web app served from its own thread and event loop on a free port."""

    def __init__(self, data_dir: Path, configure: Configure | None) -> None:
        self._data_dir = data_dir
        self._configure = configure
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
        self.url = ""

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the live hub did not start within 30 s")
        if self._failure is not None:
            raise RuntimeError("the live hub failed to start") from self._failure

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._thread.is_alive():
            raise RuntimeError("the live hub did not stop within 30 s")
        if self._failure is not None:
            raise RuntimeError("the live hub failed") from self._failure

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test thread by start()/stop()
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        opened = await open_hub(self._data_dir)
        try:
            server = await start_web(opened.app(self._configure), "127.0.0.1", 0)
            try:
                self._loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
                self.url = server.url
                self._ready.set()
                await self._stop.wait()
            finally:
                await server.stop()
        finally:
            await opened.ctx.close()


@pytest.fixture(scope="module")
def live_routes() -> Configure | None:
    """Test-only routes for ``live_hub``: a browser test module overrides this."""
    return None


@pytest.fixture(scope="module")
def live_hub(
    tmp_path_factory: pytest.TempPathFactory, live_routes: Configure | None
) -> Iterator[LiveHub]:
    server = LiveHub(tmp_path_factory.mktemp("live-hub"), live_routes)
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
