"""The audit chain holds against someone who can write to the database: its links are
keyed (HMAC under a key in the key directory), its head can be signed as a checkpoint an
auditor checks offline, and rows written before the keys are keyed by the migration only
while the old plain chain was intact."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from hub.config import load
from hub.crypto import keys
from hub.crypto.chain import ChainKeys
from hub.services import audit
from hub.services.context import open_context
from hub.store import migrate
from hub.store.db import make_engine, make_sessions
from hub.store.models import AuditEvent, table_of
from tests.integration.test_cli import Hub


async def _staff_reads(hub: Hub, n: int) -> None:
    """``n`` staff reads of a case, audited as ``cases show`` audits them."""
    ctx = await open_context(load(hub.config, env={}))
    try:
        for i in range(n):
            async with ctx.sessions() as session, session.begin():
                await audit.record(
                    session, at=ctx.clock.now(), actor="cli:staff", action="cases.show",
                    object_ref=f"MR-2026-00000{i}",
                )  # fmt: skip
    finally:
        await ctx.close()


def _hub_with_audited_reads(tmp_path: Path) -> Hub:
    hub = Hub(tmp_path)
    hub.run("init")
    hub.deliver("01-case-study.eml")
    hub.run("intake", "--once")
    asyncio.run(_staff_reads(hub, 8))
    assert "audit chain intact" in hub.run("audit", "verify")
    return hub


async def _rewrite_as_attacker(db_url: str, *, drop_key_ids: bool) -> int:
    """Delete six staff reads and re-link every row with plain SHA-256, as someone who
    can write to the database but has no key would. Returns the events left."""
    engine = make_engine(db_url)
    try:
        async with make_sessions(engine)() as session, session.begin():
            reads = (
                await session.scalars(
                    select(AuditEvent.id).where(AuditEvent.action == "cases.show").limit(6)
                )
            ).all()
            assert len(reads) == 6, reads
            await session.execute(delete(AuditEvent).where(AuditEvent.id.in_(reads)))
            prev = audit.GENESIS
            events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
            for event in events:
                body = audit.message(
                    prev, event.at, event.actor, event.action, event.object_ref, event.detail
                )
                event.prev_hash, event.hash = prev, hashlib.sha256(body).hexdigest()
                if drop_key_ids:
                    event.key_id = None
                prev = event.hash
        return len(events)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("drop_key_ids", [False, True], ids=["keyed-rows", "unkeyed-rows"])
def test_deleting_rows_and_recomputing_plain_hashes_breaks_the_chain(
    tmp_path: Path, drop_key_ids: bool
) -> None:
    hub = _hub_with_audited_reads(tmp_path)
    url = load(hub.config, env={}).database.url
    left = asyncio.run(_rewrite_as_attacker(url, drop_key_ids=drop_key_ids))
    assert left > 0
    out = hub.run("audit", "verify", code=1)
    assert "audit chain BROKEN at event" in out


def test_a_checkpoint_verifies_offline_and_fails_when_altered_or_outgrown(
    tmp_path: Path,
) -> None:
    hub = _hub_with_audited_reads(tmp_path)
    database = next((tmp_path / "var").glob("*.db"))
    shutil.copy(database, tmp_path / "before.db")  # a backup an intruder could restore
    asyncio.run(_staff_reads(hub, 1))
    checkpoint = tmp_path / "checkpoint.json"
    assert "checkpoint of" in hub.run("audit", "checkpoint", "--out", str(checkpoint))

    # Offline, with no database: the signature is the hub's own
    assert hub.run("verify", str(checkpoint)).startswith("VALID: marrac-hub/audit-checkpoint")
    envelope = json.loads(checkpoint.read_text())
    envelope["document"]["events"] -= 1
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(envelope))
    assert hub.run("verify", str(altered), code=1).startswith("INVALID")

    # Against the database: intact now; a rolled-back database fails the checkpoint
    assert "audit chain intact" in hub.run("audit", "verify", "--checkpoint", str(checkpoint))
    hub.run("audit", "verify", "--checkpoint", str(altered), code=1)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "before.db", database)
    assert "intact" in hub.run("audit", "verify")  # the older chain is whole...
    out = hub.run("audit", "verify", "--checkpoint", str(checkpoint), code=1)
    assert "does NOT match its checkpoint" in out  # ...but not what the auditor saw


def _plain_rows(n: int, tamper_at: int | None = None) -> list[dict[str, object]]:
    """``n`` events linked as the hub linked them before the chain was keyed."""
    rows, prev = [], audit.GENESIS
    at = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
    for i in range(1, n + 1):
        detail = {"n": i}
        link = hashlib.sha256(audit.message(prev, at, "cli:x", "case.view", f"C{i}", detail))
        rows.append(
            dict(at=at, actor="cli:x", action="case.view", object_ref=f"C{i}", detail=detail,
                 prev_hash=prev, hash=link.hexdigest())
        )  # fmt: skip
        prev = link.hexdigest()
    if tamper_at is not None:
        rows[tamper_at - 1]["object_ref"] = "C-altered"
    return rows


async def _migrate_old_rows(
    tmp_path: Path, rows: list[dict[str, object]]
) -> tuple[int, int | None]:
    hub = Hub(tmp_path)
    settings = load(hub.config, env={})
    keys.generate(settings.hub.key_dir)
    await asyncio.to_thread(migrate.upgrade, settings.database.url, "0005")
    engine = make_engine(settings.database.url)
    async with make_sessions(engine)() as session, session.begin():
        await session.execute(insert(table_of(AuditEvent)), rows)
    await engine.dispose()
    with pytest.raises(RuntimeError, match="upgrade with `marrac-hub init`"):
        await asyncio.to_thread(migrate.upgrade, settings.database.url)
    chain = ChainKeys(keys.load(settings.hub.key_dir))
    await asyncio.to_thread(migrate.upgrade, settings.database.url, "head", chain)
    ctx = await open_context(settings)
    try:
        async with ctx.sessions() as session, session.begin():
            await audit.record(session, at=ctx.clock.now(), actor="t", action="a", object_ref="r")
            return await audit.verify(session)
    finally:
        await ctx.close()


def test_the_migration_keys_an_intact_old_chain(tmp_path: Path) -> None:
    assert asyncio.run(_migrate_old_rows(tmp_path, _plain_rows(5))) == (6, None)


def test_the_migration_does_not_launder_an_old_chain_that_was_already_broken(
    tmp_path: Path,
) -> None:
    count, broken = asyncio.run(_migrate_old_rows(tmp_path, _plain_rows(5, tamper_at=3)))
    assert broken == 3 and count == 3
