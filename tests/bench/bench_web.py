"""Web benchmark: agency pages served per second and their p99 latency, against a bare
aiohttp handler in the same run; and the time to create, sign, seal and queue requests.

Run: .venv/bin/python -m tests.bench.bench_web [--requests N] [--concurrency C]
     [--seconds S] [--create N] [--postgres]

Each server runs in a process of its own (so the load generator does not share its CPU
time with it), on loopback, on SQLite. The load generator is an aiohttp client with C
connections; each scenario stops after N requests or S seconds, whichever comes first,
after a short warm-up. Every hub page view writes its audit event, committed before the
page is sent, as in production (the writes of requests waiting together share one
transaction: hub.services.audit_writer). ``--postgres`` adds the landing page served by
one and then two hub processes sharing a throwaway PostgreSQL database on
127.0.0.1:5432, the clients shared between them. Prints a Markdown table for
BENCHMARKS.md. Not a test: figures vary with the machine, so nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from connectors.memory import MemorySource
from hub.clock import SystemClock
from hub.services import info_requests
from hub.web.app import start_web
from tests.support.agencies import AGENCIES
from tests.support.hubs import TestHub, build_hub
from tests.support.postgres import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
REFERRAL = ROOT / "tests" / "fixtures" / "referrals" / "01-case-study.eml"
SLUGS = tuple(agency.slug for agency in AGENCIES)
BARE_PAGE = (
    "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Bare</title></head>"
    "<body><main><h1>Bare page</h1><p>A small HTML page from a bare handler.</p></main>"
    "</body></html>"
)


async def open_hub(data_dir: Path, **hub: Any) -> TestHub:
    """The benchmark's hub in ``data_dir`` (``build_hub``'s arguments), on the real clock:
    its pages are served, and its requests made, in real time. The rate limits are off:
    the load comes from one address, and the page's own cost is what is measured."""
    hub.setdefault("web", {"rate_limit_per_client": 0, "rate_limit_per_link": 0})
    return await build_hub(data_dir, clock=SystemClock(), **hub)


# --- the servers, each in its own process --------------------------------------------------


async def _serve_hub(data_dir: Path, conn: Connection, db: str | None) -> None:
    hub = await open_hub(data_dir, db=db)
    await _serve(hub.app(), conn)
    await hub.close()


async def _serve_bare(conn: Connection) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=BARE_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    await _serve(app, conn)


async def _serve(app: web.Application, conn: Connection) -> None:
    running = await start_web(app, "127.0.0.1", 0)
    conn.send(running.port)
    await asyncio.to_thread(conn.recv)  # any message: stop
    await running.stop()


def serve(kind: str, data_dir: str, conn: Connection, db: str | None = None) -> None:
    if kind == "hub":
        asyncio.run(_serve_hub(Path(data_dir), conn, db))
    else:
        asyncio.run(_serve_bare(conn))


class Server:
    def __init__(self, kind: str, data_dir: Path, db: str | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(kind, str(data_dir), child, db))
        self._process.start()
        if not self._conn.poll(60):
            raise RuntimeError(f"the {kind} server did not start")
        self.url = f"http://127.0.0.1:{self._conn.recv()}"

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)


# --- load ----------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    statuses: set[int]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


async def load(
    name: str,
    url: str | list[str],
    *,
    total: int,
    concurrency: int,
    seconds: float,
    warm_up: int = 200,
) -> Result:
    """GET ``url`` from ``concurrency`` clients until ``total`` answers or ``seconds``;
    given several URLs (one per server process), client ``i`` uses URL ``i`` mod their
    number, as nginx's round robin would share them out."""
    urls = [url] if isinstance(url, str) else url
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        # Every request is a first visit (no cookie), as from a mail link.
        for _ in range(warm_up // concurrency):
            await asyncio.gather(*(_get(session, urls[i % len(urls)]) for i in range(concurrency)))
        latencies: list[float] = []
        statuses: set[int] = set()
        issued = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def client(url: str) -> None:
            nonlocal issued
            while issued < total and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                statuses.add(await _get(session, url))
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(name, len(latencies), elapsed, latencies, statuses)


async def _get(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


# --- the hub's data ------------------------------------------------------------------------


async def prepare(data_dir: Path, db: str | None = None) -> tuple[str, str]:
    """A hub holding the case study and one request: (case ref, the request's token)."""
    hub = await open_hub(data_dir, agencies=AGENCIES, db=db)
    try:
        assert isinstance(hub.source, MemorySource)
        hub.source.deliver(REFERRAL.read_bytes())
        report = await hub.drain()
        case_ref = report.results[0].case_ref
        assert case_ref is not None, report.outcomes
        created = await info_requests.create_request(
            hub.ctx, case_ref=case_ref, agency_slug=SLUGS[0], actor="bench"
        )
        return case_ref, created.token
    finally:
        await hub.close()


async def create_many(data_dir: Path, case_ref: str, n: int) -> Result:
    """``create_request`` ``n`` times in a loop: sign, seal, store, queue its mail."""
    hub = await open_hub(data_dir)
    latencies = []
    try:
        started = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            await info_requests.create_request(
                hub.ctx, case_ref=case_ref, agency_slug=SLUGS[i % len(SLUGS)], actor="bench"
            )
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
    finally:
        await hub.close()
    return Result(f"Create, sign, seal and queue {n:,} requests", n, elapsed, latencies, set())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def landing_on_postgres(tmp: Path, processes: int, options: dict[str, Any]) -> Result:
    """The landing page served by ``processes`` hub processes sharing one PostgreSQL
    database (a throwaway one on the machine's server), clients shared among them."""
    url = create_database("mh_bench")
    try:
        data_dir = tmp / f"pg-{processes}"
        _, token = await prepare(data_dir, url)
        servers = [Server("hub", data_dir, url) for _ in range(processes)]
        try:
            return await load(
                f"Landing page, PostgreSQL, {processes} web process{'es' * (processes > 1)}",
                [f"{server.url}/r/{token}" for server in servers],
                **options,
            )
        finally:
            for server in servers:
                server.stop()
    finally:
        drop_database(url)


async def pages_on_sqlite(data_dir: Path, token: str, options: dict[str, Any]) -> list[Result]:
    """The bare handler, then the hub's landing and unknown-link pages, in one run."""
    bare = Server("bare", data_dir)
    try:
        bare_result = await load("Bare aiohttp handler, small HTML page", f"{bare.url}/", **options)
    finally:
        bare.stop()
    hub = Server("hub", data_dir)
    try:
        landing = await load("Landing page, valid link", f"{hub.url}/r/{token}", **options)
        unknown = await load(
            "Link cannot be used (unknown token)", f"{hub.url}/r/{'x' * 43}", **options
        )
    finally:
        hub.stop()
    assert bare_result.statuses == {200} and landing.statuses == {200}, "unexpected status"
    assert unknown.statuses == {404}, unknown.statuses
    return [bare_result, landing, unknown]


def print_rows(rows: list[Result], bare: Result) -> None:
    for r in rows:
        print(
            f"| {r.name} | {r.count:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{r.rate / bare.rate:.2f}x | {r.p(50):.1f} | {r.p(99):.1f} |"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--create", type=int, default=1000)
    parser.add_argument(
        "--postgres", action="store_true", help="also: one and two processes on PostgreSQL"
    )
    args = parser.parse_args()
    options = {"total": args.requests, "concurrency": args.concurrency, "seconds": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        case_ref, token = await prepare(data_dir)
        rows = await pages_on_sqlite(data_dir, token, options)
        on_pg = []
        if args.postgres:
            for processes in (1, 2):
                on_pg.append(await landing_on_postgres(data_dir, processes, options))
        created = await create_many(data_dir, case_ref, args.create)

    print(
        f"Machine: {platform.platform()}, {cpu_model()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}; SQLite, loopback."
    )
    print(
        f"Pages: {args.concurrency} concurrent clients, at most {args.requests:,} requests or "
        f"{args.seconds:g} s per row, each a first visit (no cookie); servers in their own "
        "process.\n"
    )
    print("| Measure | Count | Time (s) | Rate (/s) | vs bare | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print_rows(rows + on_pg, rows[0])
    print(
        f"| {created.name} (SQLite, one at a time) | {created.count:,} | {created.seconds:.2f} | "
        f"{created.rate:,.0f} | | {statistics.median(created.latencies) * 1000:.1f} | "
        f"{created.p(99):.1f} |"
    )
    if on_pg:
        print(f"\nPostgreSQL, two web processes / one: {on_pg[1].rate / on_pg[0].rate:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
