"""Shared fixtures: real Dovecot, a real SMTP front end and real PostgreSQL; test hubs.

We never mock mail servers or databases. Services are started once per session
(Dovecot cold start is well under a second) and reset between tests by
``mail_stack`` (expunge every mailbox, forget recorded SMTP mail). When a service
is missing, ``require`` skips loudly on a developer machine and fails on CI (or
with ``MARRAC_HUB_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agencies import write_directory
from tests.support.dovecot import DovecotServer, dovecot_available
from tests.support.hubs import HubFactory, TestHub, build_hub, initialise_template
from tests.support.mail_stack import MailStack
from tests.support.postgres import create_database, drop_database, postgres_available
from tests.support.services import require
from tests.support.smtp_server import SmtpServer


@functools.cache
def _postgres_status() -> tuple[bool, str]:
    """Probe PostgreSQL once per session, not once per parametrized test."""
    return postgres_available()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A private Dovecot (IMAP, IMAPS, LMTP on loopback) for the whole session."""
    ok, why = dovecot_available()
    require("Dovecot", ok, why)
    server = DovecotServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def smtp_server(dovecot: DovecotServer) -> Iterator[SmtpServer]:
    """Plaintext SMTP (no AUTH, no STARTTLS offered) delivering hub.test via LMTP.

    STARTTLS is deliberately not advertised here: aiosmtplib upgrades
    opportunistically when it is offered and then fails to verify the self-signed
    certificate. Use ``smtp_tls_server`` for STARTTLS tests.
    """
    server = SmtpServer(lmtp_host=dovecot.host, lmtp_port=dovecot.lmtp_port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_tls_server(dovecot: DovecotServer) -> Iterator[SmtpServer]:
    """Like ``smtp_server`` but offering STARTTLS with Dovecot's test certificate
    (verify with ``dovecot.ca_file``); plaintext still works."""
    server = SmtpServer(
        lmtp_host=dovecot.host,
        lmtp_port=dovecot.lmtp_port,
        cert_file=dovecot.cert_file,
        key_file=dovecot.key_file,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_stack(
    dovecot: DovecotServer, smtp_server: SmtpServer, smtp_tls_server: SmtpServer
) -> MailStack:
    """Clean mailboxes and SMTP records for this test (services stay up all session).

    Also brings back a server a previous test stopped and failed to restart, so
    one broken test does not cascade into the rest of the session.
    """
    if not dovecot.running:
        dovecot.start()
    for server in (smtp_server, smtp_tls_server):
        if not server.running:
            server.start()
        server.clear()
    dovecot.purge_all()
    return MailStack(dovecot=dovecot, smtp=smtp_server, smtp_tls=smtp_tls_server)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of our own on the machine's PostgreSQL, for the whole session."""
    ok, why = _postgres_status()
    require("PostgreSQL", ok, why)
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A fresh PostgreSQL database (SQLAlchemy asyncpg URL) for this test only."""
    ok, why = _postgres_status()
    require("PostgreSQL", ok, why)
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run the test against both stores: SQLite in tmp_path, and a fresh
    PostgreSQL database created for this test and dropped after it."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/hub.db"
        return
    yield request.getfixturevalue("postgres_db")


# --- test hubs (tests/support/hubs.py) ----------------------------------------------------


@pytest.fixture(scope="session")
def initialised_hub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keys and a migrated SQLite database, made once and copied by each test hub."""
    return initialise_template(tmp_path_factory.mktemp("hub-template"))


@pytest.fixture
async def make_hub(tmp_path: Path, initialised_hub_dir: Path) -> AsyncIterator[HubFactory]:
    """``await make_hub(db=..., edges=..., clock=..., **overrides)``: a hub in
    ``tmp_path/<name>`` (default ``hub``), closed after the test. SQLite hubs start from
    the initialised template; ``db=`` a PostgreSQL URL migrates that database."""
    made: list[TestHub] = []

    async def make(name: str = "hub", **kwargs: Any) -> TestHub:
        kwargs.setdefault("template", initialised_hub_dir)
        opened = await build_hub(tmp_path / name, **kwargs)
        made.append(opened)
        return opened

    try:
        yield make
    finally:
        for opened in reversed(made):
            await opened.close()


@pytest.fixture
def agency_directory(tmp_path: Path) -> Path:
    """The test agencies (tests/support/agencies.py) as ``tmp_path/agencies.toml``."""
    return write_directory(tmp_path / "agencies.toml")
