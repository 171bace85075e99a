"""Kill -9 at random points: nothing lost, nothing doubled.

Real processes (`marrac-hub serve`), real Dovecot, real SMTP, SQLite and PostgreSQL.
The kill delays are random but seeded, so a failure can be replayed. The tests are plain
functions: they drive processes and wait in real time, and run the hub's own async
code (initialise, a snapshot of the database) with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.config import load
from hub.services.context import initialise, open_context
from hub.store.models import Case, OutboxMessage
from tests.support.hub import REFERRALS, settings_dict, write_config
from tests.support.processes import start_hub
from tests.support.referrals import force_reference, referral

pytestmark = pytest.mark.slow


def wait_started(log: Path, *procs: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until these hubs have logged that they serve (their SIGTERM handler is set)."""
    deadline = time.monotonic() + timeout
    while not all(f"event=serve.started pid={p.pid} " in log.read_text() for p in procs):
        if time.monotonic() > deadline:
            raise AssertionError("hub did not start:\n" + log.read_text()[-2000:])
        time.sleep(0.05)


async def snapshot(config: Path) -> dict[str, Any]:
    ctx = await open_context(load(config, env={}))
    try:
        async with ctx.sessions() as s, s.begin():
            refs = (await s.scalars(select(Case.force_reference))).all()
            states = dict(
                (
                    await s.execute(
                        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
                    )
                ).all()
            )
            mids = (await s.scalars(select(OutboxMessage.message_id))).all()
        return {"refs": list(refs), "outbox": states, "message_ids": list(mids)}
    finally:
        await ctx.close()


def wait_settled(config: Path, dovecot: Any, expected: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        snap = asyncio.run(snapshot(config))
        done = (
            dovecot.count(REFERRALS) == 0
            and len(snap["refs"]) >= expected
            and set(snap["outbox"]) == {"sent"}
        )
        if done:
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not settled after {timeout}s: {snap['outbox']}, "
                f"{len(snap['refs'])} cases, inbox {dovecot.count(REFERRALS)}"
            )
        time.sleep(0.2)


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=20)


def assert_exactly_once(snap: dict, smtp: Any, total: int) -> int:
    """Every referral is one case; every outbox row went out once *in effect* (same
    Message-ID). Returns how many raw resends the receiver saw (crash between the
    server's 250 and our commit)."""
    counts = Counter(snap["refs"])
    assert sorted(counts) == sorted(force_reference(n) for n in range(total))
    assert set(counts.values()) == {1}, "a referral became two cases"
    assert len(snap["message_ids"]) == 2 * total  # one ack and one alert per case
    received = Counter(m["Message-ID"] for m in smtp.messages())
    assert set(received) == set(snap["message_ids"]), "mail missing or unexpected"
    return sum(received.values()) - len(received)


def test_sigkill_during_intake_on_sqlite_loses_and_doubles_nothing(
    mail_stack: Any, tmp_path: Path
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    raw = settings_dict(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path}/hub.db",
        imap_port=dovecot.imap_port,
        smtp_port=smtp.port,
    )
    raw["intake"]["batch_size"] = 3
    config = write_config(tmp_path / "hub.toml", raw)
    asyncio.run(initialise(load(config, env={})))
    log = tmp_path / "hub.log"
    rng = random.Random(20260312)
    total, kills = 50, 0
    # Given 50 referrals arriving in bursts while the hub is killed at random moments
    for burst in range(10):
        for n in range(burst * 5, burst * 5 + 5):
            dovecot.append(REFERRALS, referral(n))
        proc = start_hub(config, log)
        time.sleep(rng.uniform(0.4, 1.6))
        kill(proc)
        kills += 1
    for _ in range(20):  # and more kills while the backlog and the outbox drain
        proc = start_hub(config, log)
        time.sleep(rng.uniform(0.3, 1.4))
        kill(proc)
        kills += 1
    # When a last hub runs until all is settled and stops cleanly
    proc = start_hub(config, log)
    wait_started(log, proc)
    try:
        snap = wait_settled(config, dovecot, total)
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()[-3000:]
    # Then exactly 50 cases, an empty inbox, 50 processed, every mail once in effect
    assert dovecot.count(REFERRALS, "Processed") == total
    resends = assert_exactly_once(snap, smtp, total)
    print(f"kills={kills} raw_resends={resends}")


def test_two_hubs_on_postgresql_killed_at_random_lose_and_double_nothing(
    mail_stack: Any, tmp_path: Path, postgres_db: str
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    raw = settings_dict(tmp_path, postgres_db, imap_port=dovecot.imap_port, smtp_port=smtp.port)
    raw["intake"]["batch_size"] = 3
    config = write_config(tmp_path / "hub.toml", raw)
    asyncio.run(initialise(load(config, env={})))
    log = tmp_path / "hub.log"
    rng = random.Random(20260402)
    total, kills = 50, 0
    hubs = [start_hub(config, log), start_hub(config, log)]
    try:
        # Given two hubs polling one mailbox, each killed and restarted at random
        for burst in range(10):
            for n in range(burst * 5, burst * 5 + 5):
                dovecot.append(REFERRALS, referral(n))
            time.sleep(rng.uniform(0.3, 1.2))
            victim = rng.randrange(2)
            kill(hubs[victim])
            kills += 1
            hubs[victim] = start_hub(config, log)
        for _ in range(10):
            time.sleep(rng.uniform(0.3, 1.2))
            victim = rng.randrange(2)
            kill(hubs[victim])
            kills += 1
            hubs[victim] = start_hub(config, log)
        # When both run on until everything has settled
        snap = wait_settled(config, dovecot, total)
        wait_started(log, *hubs)
    finally:
        codes = [stop(h) for h in hubs]
    assert codes == [0, 0], log.read_text()[-3000:]
    assert dovecot.count(REFERRALS, "Processed") == total
    resends = assert_exactly_once(snap, smtp, total)
    print(f"kills={kills} raw_resends={resends}")
