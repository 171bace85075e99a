"""Intake benchmark: latency with IDLE, drain throughput against a bare fetch, peak memory.

Run: .venv/bin/python -m tests.bench.bench_intake [--db sqlite|postgresql] [--latency N]
     [--drain N]
It starts its own Dovecot (as the tests do) and prints a Markdown table for BENCHMARKS.md.
Not a test: figures vary with the machine, so nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from hub.clock import SystemClock
from hub.runtime import intake_loop
from hub.services.context import Context
from hub.store.models import Case, OutboxMessage
from tests.support.dovecot import DovecotServer
from tests.support.hub import REFERRALS, wait_until
from tests.support.hubs import Ports, TestHub, build_hub
from tests.support.postgres import create_database, drop_database
from tests.support.referrals import referral


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def count(ctx: Context, model: type) -> int:
    async with ctx.sessions() as s, s.begin():
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def more(ctx: Context, cases: int) -> bool:
    """Whether there are more than ``cases`` cases."""
    return await count(ctx, Case) > cases


async def latency(ctx: Context, dovecot: DovecotServer, n: int) -> list[float]:
    """APPEND one referral, wait for its case and alert to be committed; repeat."""
    client = dovecot.imap_client(REFERRALS)
    wake = asyncio.Event()
    task = asyncio.create_task(intake_loop(ctx, wake))
    samples = []
    try:
        await asyncio.sleep(1.0)  # let the loop connect and enter IDLE
        for i in range(n):
            before_cases = await count(ctx, Case)
            started = time.perf_counter()
            await asyncio.to_thread(client.append, "INBOX", referral(10_000 + i))
            await wait_until(
                lambda n=before_cases: more(ctx, n), timeout=60, what="the case", interval=0.002
            )
            samples.append(time.perf_counter() - started)
    finally:
        task.cancel()
        client.logout()
        await asyncio.gather(task, return_exceptions=True)
    return samples


def bare_fetch(dovecot: DovecotServer, batch: int) -> float:
    client = dovecot.imap_client(REFERRALS)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        started = time.perf_counter()
        got = 0
        for i in range(0, len(uids), batch):
            got += len(client.fetch(uids[i : i + batch], [b"BODY.PEEK[]"]))
        elapsed = time.perf_counter() - started
        assert got == len(uids)
        return len(uids) / elapsed
    finally:
        client.logout()


async def throughput(hub: TestHub, dovecot: DovecotServer, n: int) -> tuple[float, float, int]:
    ctx = hub.ctx
    client = dovecot.imap_client(REFERRALS)
    for i in range(n):
        client.append("INBOX", referral(20_000 + i))
    client.logout()
    bare = bare_fetch(dovecot, ctx.settings.intake.batch_size)
    cases_before = await count(ctx, Case)
    started = time.perf_counter()
    report = await hub.drain()  # its first connection: the source has not been used yet
    elapsed = time.perf_counter() - started
    await hub.source.close()
    made = await count(ctx, Case) - cases_before
    assert made == n, (made, report.outcomes)
    assert dovecot.count(REFERRALS) == 0
    return n / elapsed, bare, await count(ctx, OutboxMessage)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--drain", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, DovecotServer() as dovecot:
        url = None if args.db == "sqlite" else create_database()
        try:
            hub = await build_hub(
                Path(tmp),
                db=url,
                edges=Ports(imap_port=dovecot.imap_port),
                clock=SystemClock(),
                intake={"poll_seconds": 30},
            )
            lat = await latency(hub.ctx, dovecot, args.latency)
            rate, bare, _ = await throughput(hub, dovecot, args.drain)
            await hub.close()
        finally:
            if url is not None:
                drop_database(url)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} ({__import__('os').cpu_count()} cores); database: {args.db}"
    )
    print("| measure | figure |")
    print("|---|---|")
    print(
        f"| APPEND -> case committed, alert queued (IDLE), n={len(lat)} | "
        f"p50 {statistics.median(lat) * 1000:.0f} ms, p95 {percentile(lat, 95) * 1000:.0f} ms, "
        f"max {max(lat) * 1000:.0f} ms |"
    )
    print(f"| drain {args.drain} queued referrals | {rate:.0f} messages/s |")
    print(f"| bare imapclient fetch, same messages | {bare:.0f} messages/s |")
    print(f"| ratio hub / bare | {rate / bare:.2f} |")
    print(f"| peak RSS (whole benchmark process) | {rss:.0f} MiB |")


if __name__ == "__main__":
    asyncio.run(main())
