"""Sweep benchmark: one sweep's time and memory with many open items, few of them due.

Run: .venv/bin/python -m tests.bench.bench_sweep [--db sqlite|postgresql]
Builds (with bulk inserts) 30,000 open cases with their two milestones and 100,000 open
requests, 1 % of them due now, and times one sweep; then keeps the due count fixed and
grows the total from 1,000 to 100,000 to show the sweep follows the due count.
Prints a Markdown table for BENCHMARKS.md. A program, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert

from hub.clock import FrozenClock
from hub.services import sweep
from hub.services.context import Context
from hub.store.models import (
    Agency,
    AlertStep,
    Case,
    InfoRequest,
    Milestone,
    OutboxMessage,
    RequestLink,
)
from tests.support.hubs import build_hub
from tests.support.postgres import create_database, drop_database

NOW = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)  # a Wednesday, inside agency hours


async def populate(ctx: Context, cases: int, requests: int, due: int) -> None:
    """``cases`` open cases (two milestones each) and ``requests`` open requests, of which
    ``due`` items (half milestones, half requests) have work due at NOW."""
    sealed = ctx.sealer.seal_json({"referrer": {}, "incident": {}, "attachments": []})
    doc = ctx.sealer.seal(b"{}")
    later = NOW + timedelta(days=3)
    async with ctx.sessions() as s, s.begin():
        for table in (AlertStep, OutboxMessage, RequestLink, InfoRequest, Milestone, Case, Agency):
            await s.execute(delete(table))
        await s.execute(
            insert(Agency.__table__),
            [
                dict(
                    id=1,
                    slug="a",
                    name="A",
                    type="school",
                    emails=["a@agency.example"],
                    shares_systems=False,
                    response_hours=0,
                    active=True,
                    updated_at=NOW,
                )
            ],
        )
        for start in range(0, cases, 5000):
            await s.execute(
                insert(Case.__table__),
                [
                    dict(
                        id=i + 1,
                        ref=f"MR-2026-{i + 1:06d}",
                        status="open",
                        received_at=NOW,
                        source="form",
                        linked_refs=[],
                        problems=[],
                        details_sealed=sealed,
                    )
                    for i in range(start, min(cases, start + 5000))
                ],
            )
        half = due // 2
        rows = []
        for i in range(cases):
            for kind in ("plan-48h", "review-2w"):
                is_due = kind == "plan-48h" and i < half
                # Due items: a plan that fell due an hour ago (the "due" step is owed).
                due_at = NOW - timedelta(hours=1) if is_due else later
                rows.append(
                    dict(
                        case_id=i + 1,
                        kind=kind,
                        anchor_at=NOW - timedelta(days=2),
                        due_at=due_at,
                        state="pending",
                        next_action_at=due_at if is_due else later,
                    )
                )
            if len(rows) >= 10000:
                await s.execute(insert(Milestone.__table__), rows)
                rows = []
        if rows:
            await s.execute(insert(Milestone.__table__), rows)
        for start in range(0, requests, 5000):
            await s.execute(
                insert(InfoRequest.__table__),
                [
                    dict(
                        id=i + 1,
                        ref=f"RQ-2026-{i + 1:06d}",
                        case_id=(i % cases) + 1,
                        agency_id=1,
                        state="sent",
                        urgency="standard",
                        lawful_basis="x",
                        requested_by="cc",
                        authorised_by="tl",
                        document_sealed=doc,
                        signature_kid="k",
                        signature_digest="d",
                        created_at=NOW - timedelta(days=5),
                        sent_at=NOW - timedelta(days=5),
                        due_at=NOW if i < due - half else later + timedelta(days=5),
                        next_action_at=NOW if i < due - half else later,
                        due_rule="explicit",
                    )
                    for i in range(start, min(requests, start + 5000))
                ],
            )


async def one_sweep(ctx: Context) -> tuple[float, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    report = await sweep.sweep(ctx, NOW)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, report.steps


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = None if args.db == "sqlite" else create_database()
        try:
            hub = await build_hub(Path(tmp), db=url, clock=FrozenClock(NOW))
            ctx = hub.ctx
            lines = []
            await populate(ctx, 30_000, 100_000, 1_300)
            await sweep.recompute_if_holidays_changed(ctx, NOW)
            t, mem, steps = await one_sweep(ctx)
            lines.append(
                f"| 30,000 cases + 100,000 requests, 1 % due (1,300 items) | "
                f"{t * 1000:.0f} ms | {steps} | {mem:.1f} MiB |"
            )
            for total in (1_000, 10_000, 100_000):
                await populate(ctx, max(300, total * 3 // 10), total, 300)
                t, mem, steps = await one_sweep(ctx)
                lines.append(
                    f"| {total:,} requests, 300 due | {t * 1000:.0f} ms | {steps} | {mem:.1f} MiB |"
                )
            await hub.close()
        finally:
            if url is not None:
                drop_database(url)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; database: {args.db}; peak RSS {rss:.0f} MiB"
    )
    print("| open items | one sweep | steps sent | peak Python allocations |")
    print("|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
