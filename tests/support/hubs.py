"""One way to build a test hub: a database by its edges, with keys, a clock and agencies.

``build_hub(data_dir, db=..., edges=..., clock=..., **overrides)`` makes what
``marrac-hub serve`` would: settings, keys, a migrated database and a context, plus the
mailbox source and mail sender the hub reads and sends with:

- ``db``: a database URL (``db_url``/``postgres_db`` fixtures), or None for SQLite in
  ``data_dir``;
- ``edges``: ``"memory"`` for ``connectors.memory`` (no servers), or servers for the
  real IMAP and SMTP edges: the suite's ``MailStack`` (Dovecot and the test SMTP),
  or :class:`Ports` of a test's own (a fault proxy, a second Dovecot, nothing at all);
- ``clock``: a frozen clock at :data:`START` unless told otherwise (tests travel in
  time; a hub running its real loops takes ``SystemClock()``);
- ``template``: an initialised hub directory (``initialised_hub_dir``) whose keys and
  SQLite database are copied rather than made again (much faster than migrating).

Real edges' settings are ``tests.support.hub.settings_dict``, the same document a test
that runs ``marrac-hub`` as a process writes to its settings file (``write_config``).
The web layer's served app and loop thread (tests/web/conftest.py) sit on top of this.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from aiohttp import web

from connectors.imap import ImapSource
from connectors.memory import MemorySender, MemorySource
from hub.clock import Clock, FrozenClock
from hub.config import Settings, for_tests, parse
from hub.crypto import keys
from hub.crypto.keys import KeyRing
from hub.ports import MailboxSource, MailSender
from hub.runtime import DrainReport, drain, make_sender
from hub.services import info_requests
from hub.services.context import Context, initialise, open_context
from hub.services.outbox import deliver_due
from hub.store import migrate
from hub.web.app import build_app
from tests.support.agencies import Agency, write_directory
from tests.support.hub import settings_dict

# Thursday 12 March 2026, 09:00 UTC: the case study's first morning.
START = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


class Servers(Protocol):
    """Where a hub's real edges connect (the suite's ``MailStack`` is one)."""

    @property
    def imap_port(self) -> int: ...

    @property
    def smtp_port(self) -> int: ...


@dataclass(frozen=True)
class Ports:
    """Real edges on ports of a test's own; 1 is where nothing listens, so a hub that
    tries that edge meets a refused connection."""

    imap_port: int = 1
    smtp_port: int = 1


Edges = Literal["memory"] | Servers


@dataclass
class TestHub:
    """A hub as ``marrac-hub serve`` builds it, with the edges it reads and sends with."""

    __test__ = False  # a fixture's value, not a test class

    settings: Settings
    ctx: Context
    ring: KeyRing
    clock: Clock
    source: MailboxSource
    sender: MailSender

    def app(self, configure: Any = None) -> web.Application:
        """The hub's web app; ``configure(app)`` adds test-only routes or templates."""
        app = build_app(self.ctx, self.ring)
        if configure is not None:
            configure(app)
        return app

    async def drain(self) -> DrainReport:
        """Take in everything waiting in the mailbox (intake's drain)."""
        return await drain(self.ctx, self.source)

    async def deliver(self) -> int:
        """Send what the outbox holds that is due (the outbox's delivery)."""
        return await deliver_due(self.ctx, self.sender)

    async def close(self) -> None:
        await self.source.close()
        await self.ctx.close()


# What the ``make_hub`` fixture gives: ``await make_hub(name="hub", **build_hub_kwargs)``.
HubFactory = Callable[..., Awaitable[TestHub]]


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir}/hub.db"


def initialise_template(data_dir: Path) -> Path:
    """Keys and a migrated SQLite database in ``data_dir``, for ``build_hub(template=)``."""
    settings = for_tests(data_dir)
    keys.ensure(settings.hub.key_dir)
    migrate.upgrade(settings.database.url)
    return data_dir


def hub_settings(data_dir: Path, db_url: str, edges: Edges, **overrides: Any) -> Settings:
    """Settings for the edges: the servers' ports, or the embedded defaults."""
    if edges == "memory":
        return for_tests(data_dir, database={"url": db_url}, **overrides)
    raw = settings_dict(
        data_dir, db_url, imap_port=edges.imap_port, smtp_port=edges.smtp_port, **overrides
    )
    return parse(raw, data_dir, {})


def make_edges(settings: Settings, edges: Edges) -> tuple[MailboxSource, MailSender]:
    if edges == "memory":
        return MemorySource(), MemorySender()
    return ImapSource(settings.intake), make_sender(settings)


def prepare(
    data_dir: Path,
    db: str | None,
    edges: Edges,
    template: Path | None,
    agencies: tuple[Agency, ...] | None,
    overrides: dict[str, Any],
) -> Settings:
    """The files of a hub (blocking): its directory, template copy, agency directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if template is not None:
        shutil.copytree(template / "keys", data_dir / "keys", dirs_exist_ok=True)
        if db is None:
            shutil.copy(template / "hub.db", data_dir / "hub.db")
    if agencies is not None:
        directory = write_directory(data_dir / "agencies.toml", agencies)
        overrides = {
            **overrides,
            "agencies": {"file": str(directory), **overrides.get("agencies", {})},
        }
    return hub_settings(data_dir, db or sqlite_url(data_dir), edges, **overrides)


async def build_hub(
    data_dir: Path,
    *,
    db: str | None = None,
    edges: Edges = "memory",
    clock: Clock | None = None,
    template: Path | None = None,
    agencies: tuple[Agency, ...] | None = None,
    **overrides: Any,
) -> TestHub:
    """A hub in ``data_dir`` (see the module's docstring); ``agencies``, when given, are
    written to ``data_dir/agencies.toml`` and synced, as ``marrac-hub agencies sync``."""
    settings = await asyncio.to_thread(prepare, data_dir, db, edges, template, agencies, overrides)
    if template is None or db is not None:
        await initialise(settings)
    ctx = await open_context(settings, clock or FrozenClock(START))
    source, sender = make_edges(settings, edges)
    opened = TestHub(settings, ctx, keys.load(settings.hub.key_dir), ctx.clock, source, sender)
    if agencies is not None:
        try:
            await info_requests.sync_agencies(ctx, data_dir / "agencies.toml", "test")
        except BaseException:
            await opened.close()
            raise
    return opened
