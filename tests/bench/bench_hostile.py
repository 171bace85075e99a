"""Hostile mail benchmark: every parser on pathological 1 MB and 4 MB inputs, and how
long ``/healthz`` waits while a served hub reads the 4 MB hostile mail.

Run: .venv/bin/python -m tests.bench.bench_hostile [--skip-healthz]
Prints Markdown for BENCHMARKS.md. Not a test: nothing here asserts a speed. The parser
timings are CPU seconds of this process (less disturbed by other load than wall time);
"x4" is the 1 MB time over the 256 kB time: about 4 for a linear parser, 16 for a
quadratic one. The form and HTML readers read at most 1 MB of text, so their 4 MB
column is that cap at work. The inputs are those of tests/integration/test_hostile_parsing.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from hub.mail import parse_mail, recipient_addresses, reply_text
from hub.mail.form import read_form
from hub.mail.htmltext import html_to_text
from tests.integration.test_hostile_healthz import HEALTHZ_LIMIT, hostile_mail, serve, up
from tests.integration.test_hostile_parsing import HEAD, multipart, text_mail
from tests.support.dovecot import DovecotServer
from tests.support.hub import REFERRALS, wait_until
from tests.support.hubs import Ports
from tests.support.services import free_port

MB = 1_000_000

# (parser, input of n bytes)
SHAPES: dict[str, tuple[Callable[[Any], Any], Callable[[int], Any]]] = {
    "form: > on one line": (read_form, lambda n: ">" * n),
    "form: '> ' quoting": (read_form, lambda n: "> " * (n // 2)),
    "form: short lines": (read_form, lambda n: "a\n" * (n // 2)),
    "html: <a": (html_to_text, lambda n: "<a" * (n // 2)),
    "html: <!--": (html_to_text, lambda n: "<!--" * (n // 4)),
    "html: a cell of <br> lines": (html_to_text, lambda n: "<table><tr><td>" + "a<br>" * (n // 5)),
    "mime: text parts of > (whole mail)": (parse_mail, lambda n: multipart(*[b">" * (n // 4)] * 4)),
    "mime: html body of <a (whole mail)": (
        parse_mail,
        lambda n: text_mail(b"<a" * (n // 2), "text/html"),
    ),
    "mime: header fields": (
        parse_mail,
        lambda n: HEAD + b"".join(b"X-H%d: v\r\n" % i for i in range(n // 12)) + b"\r\nhi",
    ),
    "reply: text of > parts": (reply_text, lambda n: multipart(*[b">" * (n // 4)] * 4)),
    "reply: recipients, To: of one word": (
        recipient_addresses,
        lambda n: b"To: " + b"a" * n + b"\r\n" + HEAD + b"\r\nhi",
    ),
}


def cpu(parser: Callable[[Any], Any], data: Any) -> float:
    started = time.process_time()
    parser(data)
    return time.process_time() - started


def parsers() -> None:
    print("| parser, input | 256 kB | 1 MB | 4 MB | x4 (1 MB / 256 kB) |")
    print("|---|---:|---:|---:|---:|")
    for name, (parser, make) in SHAPES.items():
        quarter, one, four = (
            min(cpu(parser, make(n)) for _ in range(3)) for n in (MB // 4, MB, 4 * MB)
        )
        print(
            f"| {name} | {quarter * 1000:.0f} ms | {one * 1000:.0f} ms | {four * 1000:.0f} ms"
            f" | {one / max(quarter, 1e-6):.1f} |"
        )


async def healthz_delays(rounds: int) -> list[float]:
    """/healthz times while a served hub reads the 4 MB hostile mail, ``rounds`` times."""
    delays: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, DovecotServer() as dovecot:
        port = free_port()
        url = f"http://127.0.0.1:{port}/healthz"
        hub = serve(Path(tmp), Ports(imap_port=dovecot.imap_port), port)
        try:
            await wait_until(lambda: up(url), timeout=60, what="the hub's web server")
            async with aiohttp.ClientSession() as session:
                for _ in range(rounds):
                    await asyncio.to_thread(dovecot.append, REFERRALS, hostile_mail())
                    while await asyncio.to_thread(dovecot.count, REFERRALS, "INBOX"):
                        started = time.perf_counter()
                        async with session.get(url, timeout=HEALTHZ_LIMIT) as response:
                            assert response.status == 200
                        delays.append(time.perf_counter() - started)
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-healthz", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    parsers()
    if args.skip_healthz:
        return
    delays = asyncio.run(healthz_delays(args.rounds))
    ordered = sorted(delays)
    print(
        f"\n/healthz while `serve` reads the 4 MB hostile mail ({args.rounds} mails, "
        f"{len(delays)} requests): p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
