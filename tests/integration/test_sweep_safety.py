"""Sweeps that die, and sweeps that run twice at once, never double or skip an alert.

Real `marrac-hub sweep --now` processes against SQLite and PostgreSQL and the real SMTP
server; time is simulated through `--now`, never slept through. The processes are driven
from a worker thread (``asyncio.to_thread``), never from the event loop.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.clock import FrozenClock
from hub.config import load
from hub.domain.deadlines import due_steps, steps_for_milestone, steps_for_request
from hub.domain.policy import Policy
from hub.ports import InboundItem
from hub.services import casework, info_requests, sweep
from hub.services.context import Context, initialise, open_context
from hub.services.intake import ingest_batch
from hub.store.models import AlertStep, InfoRequest, Milestone, OutboxMessage
from tests.support.agencies import ELSEWHERE, GP, SCHOOL, agencies, write_directory
from tests.support.hub import settings_dict, write_config
from tests.support.processes import start_cli
from tests.support.referrals import referral

pytestmark = pytest.mark.slow
T0 = datetime(2026, 3, 12, 1, 40, tzinfo=UTC)  # Thursday, GMT


async def world(tmp_path: Path, db_url: str, smtp_port: int, n: int = 40) -> tuple[Path, Any]:
    """``n`` cases received at T0, half allocated, each with a request to an agency."""
    raw = settings_dict(tmp_path, db_url, imap_port=1, smtp_port=smtp_port)
    directory = agencies(only=(SCHOOL, GP), emails=ELSEWHERE)
    raw["agencies"] = {"file": str(write_directory(tmp_path / "agencies.toml", directory))}
    config = write_config(tmp_path / "hub.toml", raw)
    settings = load(config, env={})
    await initialise(settings)
    ctx = await open_context(settings, FrozenClock(T0))
    await info_requests.sync_agencies(ctx, tmp_path / "agencies.toml", "tl")
    results = await ingest_batch(
        ctx, [InboundItem(f"seed:{i}", "seed", referral(i)) for i in range(n)]
    )
    for i, r in enumerate(results):
        assert r.case_ref
        if i % 2:
            await casework.allocate(ctx, r.case_ref, f"cc{i % 3}@team.example", "tl")
        await info_requests.create_request(
            ctx,
            case_ref=r.case_ref,
            agency_slug=SCHOOL if i % 2 else GP,
            actor="cc",
            urgency="urgent" if i % 3 == 0 else "standard",
        )
    return config, ctx


async def expected_steps(ctx: Context, end: datetime) -> set[tuple[str, str]]:
    """What the domain says must have been sent by ``end`` (nothing was answered)."""
    policy: Policy = ctx.policy
    out: set[tuple[str, str]] = set()
    async with ctx.sessions() as s, s.begin():
        for m in (await s.scalars(select(Milestone))).all():
            for step in due_steps(steps_for_milestone(m.kind, m.due_at, policy), set(), end):
                out.add((f"milestone:{m.id}", step.name))
        for r in (await s.scalars(select(InfoRequest))).all():
            steps = steps_for_request(
                r.due_at, policy, ctx.calendar, urgency=r.urgency, issued_at=r.sent_at
            )
            for step in due_steps(steps, set(), end):
                out.add((f"request:{r.id}", step.name))
    return out


def sweep_proc(config: Path, at: datetime) -> subprocess.Popen[bytes]:
    return start_cli(config, "sweep", "--now", at.isoformat())


def finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]


def sweep_killing_at_random(config: Path, instants: list[datetime], rng: random.Random) -> int:
    """At each instant, sweeps killed at random (30 in all), then one that finishes; the
    number of kills."""
    kills = 0
    for at in instants:
        while kills < 30 and rng.random() < 0.6:
            proc = sweep_proc(config, at)
            time.sleep(rng.uniform(0.5, 1.4))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.communicate(timeout=30)
        finish(sweep_proc(config, at))
    return kills


def deliver_outbox(config: Path) -> None:
    finish(start_cli(config, "outbox", "deliver"))


def sweep_twice_at_once(config: Path, instants: list[datetime]) -> None:
    for at in instants:
        a, b = sweep_proc(config, at), sweep_proc(config, at)
        finish(a)
        finish(b)


async def check_exactly_once(ctx: Context, smtp: Any, end: datetime) -> dict[str, int]:
    expected = await expected_steps(ctx, end)
    async with ctx.sessions() as s, s.begin():
        ledger = [(a.subject, a.step) for a in (await s.scalars(select(AlertStep))).all()]
        rows = (
            await s.execute(
                select(OutboxMessage.message_id, OutboxMessage.state).where(
                    OutboxMessage.dedupe_key.like("step:%")
                )
            )
        ).all()
        errors = (
            await s.execute(
                select(OutboxMessage.kind, OutboxMessage.last_error, OutboxMessage.attempts).where(
                    OutboxMessage.state != "sent"
                )
            )
        ).all()
    assert Counter(ledger).most_common(1)[0][1] == 1, "a step was recorded twice"
    assert set(ledger) == expected, (
        f"missing {sorted(expected - set(ledger))[:5]}, extra {sorted(set(ledger) - expected)[:5]}"
    )
    assert {state for _, state in rows} == {"sent"}, errors[:5]
    received = Counter(m["Message-ID"] for m in smtp.messages())
    step_ids = {mid for mid, _ in rows}
    assert step_ids <= set(received), "an alert never reached the SMTP server"
    return {
        "steps": len(ledger),
        "mails": len(rows),
        "raw_resends": sum(received[m] - 1 for m in step_ids),
    }


async def test_sweeps_killed_at_random_30_times_send_every_alert_once(
    mail_stack: Any, tmp_path: Path
) -> None:
    config, ctx = await world(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hub.db", mail_stack.smtp.port
    )
    rng = random.Random(30)
    instants = [T0 + timedelta(hours=6 * k) for k in range(1, 66)]  # 16 days
    try:
        kills = await asyncio.to_thread(sweep_killing_at_random, config, instants, rng)
        assert kills == 30
        # Mail a killed sweep had claimed is released when its lease runs out
        await asyncio.to_thread(deliver_outbox, config)
        figures = await check_exactly_once(ctx, mail_stack.smtp, instants[-1])
        print(f"kills={kills} {figures}")
    finally:
        await ctx.close()


async def test_two_hubs_on_postgresql_for_a_simulated_fortnight_send_every_alert_once(
    mail_stack: Any, tmp_path: Path, postgres_db: str
) -> None:
    config, ctx = await world(tmp_path, postgres_db, mail_stack.smtp.port)
    instants = [T0 + timedelta(hours=6 * k) for k in range(1, 66)]
    try:
        await asyncio.to_thread(sweep_twice_at_once, config, instants)
        figures = await check_exactly_once(ctx, mail_stack.smtp, instants[-1])
        assert figures["raw_resends"] == 0
        print(figures)
    finally:
        await ctx.close()


async def test_a_new_bank_holiday_moves_open_policy_deadlines(
    mail_stack: Any, tmp_path: Path
) -> None:
    _config, ctx = await world(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hub.db", mail_stack.smtp.port, n=4
    )
    try:
        await sweep.sweep(ctx, T0)  # records the calendar the deadlines were made with
        async with ctx.sessions() as s, s.begin():
            before = {
                r.id: r.due_at
                for r in (
                    await s.scalars(select(InfoRequest).where(InfoRequest.due_rule == "policy"))
                ).all()
            }
        assert before
        # Given a closure day declared on the first working day after T0
        ctx.policy = Policy.from_dict({"calendar": {"extra_holidays": ["2026-03-13"]}})
        del ctx.__dict__["calendar"]
        moved = await sweep.recompute_if_holidays_changed(ctx, T0 + timedelta(hours=1))
        async with ctx.sessions() as s, s.begin():
            after = {
                r.id: r.due_at
                for r in (
                    await s.scalars(select(InfoRequest).where(InfoRequest.due_rule == "policy"))
                ).all()
            }
        assert moved == len([i for i in before if after[i] != before[i]]) > 0
        for i, due in before.items():
            if after[i] != due:
                assert after[i] > due
    finally:
        await ctx.close()
