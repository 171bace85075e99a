"""A canary name in a referral never appears in plaintext at rest: not in the SQLite
file or its WAL, not in PostgreSQL's tables, not in the logs, not in temporary files."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub import logs
from hub.services import cases
from tests.support.hub import REFERRALS
from tests.support.hubs import HubFactory
from tests.support.referrals import referral

CANARY = "Zebulon Quixcanary"
NEEDLES = [
    CANARY.encode(),
    CANARY.lower().encode(),
    CANARY.encode("utf-16-le"),
    CANARY.encode().hex().encode(),
    b"Quixcanary",
    b"quixcanary",
]


def leaks(data: bytes) -> list[bytes]:
    low = data.lower()
    return [n for n in NEEDLES if n.lower() in low]


def scan_tree(root: Path, since: float, skip: tuple[Path, ...] = ()) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if any(path.is_relative_to(s) for s in skip) or not path.is_file():
            continue
        try:
            if path.stat().st_mtime < since:
                continue
            if leaks(path.read_bytes()):
                found.append(str(path))
        except OSError:
            continue
    return found


async def ingest_canary(mail_stack: Any, make_hub: HubFactory, db: str | None = None) -> Path:
    """Take the canary's referral in and send its mail; the hub's data directory."""
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    dovecot.append(REFERRALS, referral(7001, victim=CANARY, summary=f"{CANARY} was hurt."))
    hub = await make_hub(db=db, edges=mail_stack)
    try:
        report = await hub.drain()
        assert report.outcomes == {"case": 1}
        await hub.deliver()
        # Staff can still read it (decrypted on the way out, audited)
        shown = await cases.list_cases(hub.ctx, "test")
        assert shown[0]["victim"]["name"] == CANARY
    finally:
        await hub.close()  # the files are read at rest, after the hub let go of them
    for message in smtp.messages():
        assert not leaks(message.as_bytes()), "personal data in outgoing mail"
    return hub.settings.hub.data_dir


async def test_canary_never_in_plaintext_on_sqlite_logs_or_temp(
    mail_stack: Any, tmp_path: Path, make_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    logs.quiet_libraries()  # as `marrac-hub -v` sets up logging: our DEBUG lines
    caplog.set_level(logging.DEBUG)
    started = time.time() - 1
    db = await ingest_canary(mail_stack, make_hub) / "hub.db"
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    assert db.exists()
    for f in files:
        if f.exists():
            assert not leaks(f.read_bytes()), f"canary in {f.name}"
    assert not leaks(caplog.text.encode()), "canary in the logs"
    assert scan_tree(tmp_path, started) == []
    # Temporary files anywhere under the temp dir, except the mail server's own store
    assert (
        scan_tree(Path(tempfile.gettempdir()), started, skip=(Path(mail_stack.dovecot.base_dir),))
        == []
    )


async def test_canary_never_in_plaintext_in_postgresql(
    mail_stack: Any, make_hub: HubFactory, postgres_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    logs.quiet_libraries()
    caplog.set_level(logging.DEBUG)
    await ingest_canary(mail_stack, make_hub, postgres_db)
    conn = await asyncpg.connect(postgres_db.replace("postgresql+asyncpg", "postgresql"))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        assert "persons" in tables
        for table in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{table}" t')
            text = "\n".join(r["row"] for r in rows).encode()
            assert not leaks(text), f"canary in table {table}"
    finally:
        await conn.close()
    assert not leaks(caplog.text.encode()), "canary in the logs"
