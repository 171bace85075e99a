"""Every mail parser on pathological 1 MB and 4 MB inputs, read the way the hub reads
mail: in a reading worker with the product's budget (``[intake] read_seconds`` and
``read_memory_mb`` defaults). A quadratic parser does not finish within it (the form
reader's quote-stripping took 15 s for 1 MB of ``>``, the HTML reader 47 s for 200 kB
of ``<a``) and comes back as an Overrun; a linear one returns its reading. No test here
measures a time: the budget is the product's own behaviour. The timings are in
BENCHMARKS.md (``python -m tests.bench.bench_hostile``).

Then the pool itself (time, memory and a crash each replace the worker and the batch
goes on) and intake over budget (a needs-triage record with its reason; a stranger's
body never read).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.config import for_tests
from hub.mail import parse_mail, recipient_addresses, reply_text
from hub.mail.form import read_form
from hub.mail.htmltext import html_to_text
from hub.mail.jsonform import read_json
from hub.services.reading_pool import Budget, Overrun, ReadingPool
from hub.store.models import InboundMessage
from tests.support.hubs import HubFactory
from tests.support.referrals import referral

MB = 1_000_000
HEAD = (
    b"From: PC Holt <s.holt@lancashire.police.uk>\r\nTo: marrac@hub.test\r\n"
    b"Subject: MARRAC referral\r\nMessage-ID: <hostile@lancashire.police.uk>\r\n"
    b"Date: Thu, 12 Mar 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
)


def product_budget() -> Budget:
    """The budget a hub reads each message with, by default."""
    intake = for_tests(Path("/nonexistent")).intake
    return Budget(intake.read_seconds, intake.read_memory_mb * 1024 * 1024)


def text_mail(body: bytes, content_type: str = "text/plain") -> bytes:
    return HEAD + f"Content-Type: {content_type}; charset=utf-8\r\n\r\n".encode() + body


def multipart(*bodies: bytes, content_type: str = "text/plain") -> bytes:
    parts = b"".join(
        b"--b\r\nContent-Type: " + content_type.encode() + b"\r\n\r\n" + body + b"\r\n"
        for body in bodies
    )
    return HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b"--b--\r\n"


def nested(levels: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
        for i in range(levels)
    )
    return HEAD + opening + b"Content-Type: text/plain\r\n\r\nhello\r\n"


def is_none(value: Any) -> bool:
    return value is None


def is_text(value: Any) -> bool:
    return isinstance(value, str)


def read(value: Any) -> bool:
    return value.referral.source == "none" and value.sender == "s.holt@lancashire.police.uk"


# (parser, argument, what the reading must look like); each input is 1 MB or 4 MB.
CASES: dict[str, tuple[Callable[..., Any], Any, Callable[[Any], bool]]] = {
    "form: 1 MB of > on one line": (read_form, ">" * MB, is_none),
    "form: 4 MB of > on one line": (read_form, ">" * (4 * MB), is_none),
    "form: 4 MB of '> ' quoting": (read_form, "> " * (2 * MB), is_none),
    "form: an address carried on over 1 MB of lines": (
        read_form,
        "Victim name: A B\nVictim address: 1 Road\n" + "more\n" * (MB // 5),
        lambda r: r is not None and len(r.referral.victim.address) <= 2_000,
    ),
    "html: 1 MB of <a": (html_to_text, "<a" * (MB // 2), is_text),
    "html: 4 MB of <a": (html_to_text, "<a" * (2 * MB), is_text),
    "html: 4 MB of </": (html_to_text, "</" * (2 * MB), is_text),
    "html: 4 MB of <?": (html_to_text, "<?" * (2 * MB), is_text),
    "html: 4 MB of <!--": (html_to_text, "<!--" * MB, is_text),
    "html: a cell of 1 MB of lines": (
        html_to_text,
        "<table><tr><td>x</td><td>" + "a<br>" * (MB // 5),
        is_text,
    ),
    "json: 1 MB of [": (read_json, b"[" * MB, lambda r: r.referral is None),
    "json: 1 MB of keys": (
        read_json,
        json.dumps({"victim": {f"k{i}": "v" for i in range(MB // 12)}}).encode(),
        lambda r: r.problem is not None or r.referral is not None,
    ),
    "mime: four 1 MB text parts of >": (parse_mail, multipart(*[b">" * MB] * 4), read),
    "mime: 4 MB html body of <a": (parse_mail, text_mail(b"<a" * (2 * MB), "text/html"), read),
    "mime: 4 MB of header fields": (
        parse_mail,
        HEAD + b"".join(b"X-H%d: v\r\n" % i for i in range(4 * MB // 12)) + b"\r\nhi",
        read,
    ),
    "mime: 4 MB of boundary lines": (
        parse_mail,
        HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + b"--b\r\n" * (4 * MB // 5),
        read,
    ),
    "mime: 1 MB of nested multiparts": (parse_mail, nested(MB // 60), read),
    "mime: 4 MB of soft line breaks": (
        parse_mail,
        HEAD + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + b"=\r\n" * (4 * MB // 3),
        read,
    ),
    "machine: 4 MB of auto-reply headers": (
        parse_mail,
        HEAD.replace(b"Subject: MARRAC referral", b"Subject: Automatic reply")
        + b"X-Auto-Response-Suppress: All\r\n" * (4 * MB // 32)
        + b"\r\nhi",
        lambda r: r.machine_reason == "auto-reply subject with x-auto-response-suppress",
    ),
    "reply: 4 MB of > in a reply": (reply_text, multipart(*[b">" * MB] * 4), is_text),
    "reply: recipients in a 4 MB To: of one word": (
        recipient_addresses,
        b"To: " + b"a" * (4 * MB) + b"\r\n" + HEAD + b"\r\nhi",
        lambda r: r == ["marrac@hub.test"],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_each_parser_reads_a_pathological_input_within_the_reading_budget(
    name: str,
) -> None:
    parser, argument, looks_right = CASES[name]
    pool = ReadingPool(1, product_budget())
    try:
        # When the worker reads it, with the budget every mail gets
        [result] = await pool.map(parser, [(argument,)])
    finally:
        await pool.close()
    # Then the reading finished within the budget, and it is a reading
    assert not isinstance(result, Overrun), f"{name}: {result.reason}"
    assert looks_right(result), result


# -- the pool: every budget replaces the worker, and the batch goes on ------------------


def spin(seconds_past_budget: bool) -> str:
    """A job that never finishes when asked to (a parser in a loop)."""
    while seconds_past_budget:
        pass
    return "done"


def hoard(size: int) -> int:
    """A job that needs ``size`` bytes at once."""
    return len(bytearray(size))


def crash(code: int) -> None:
    os._exit(code)


async def test_a_job_over_its_time_is_killed_and_the_rest_of_the_batch_is_read() -> None:
    pool = ReadingPool(1, Budget(seconds=0.5, memory_bytes=1024 * 1024 * 1024))
    try:
        results = await pool.map(spin, [(False,), (True,), (False,)])
    finally:
        await pool.close()
    assert results[0] == "done" and results[2] == "done"
    assert isinstance(results[1], Overrun) and "time budget" in results[1].reason


async def test_a_job_over_its_memory_fails_in_its_worker_and_the_rest_is_read() -> None:
    pool = ReadingPool(1, Budget(seconds=30, memory_bytes=512 * 1024 * 1024))
    try:
        results = await pool.map(hoard, [(1000,), (2 * 1024 * 1024 * 1024,), (1000,)])
    finally:
        await pool.close()
    assert results[0] == 1000 and results[2] == 1000
    assert isinstance(results[1], Overrun) and "memory" in results[1].reason


async def test_a_worker_that_dies_is_replaced() -> None:
    pool = ReadingPool(2, Budget(seconds=30, memory_bytes=1024 * 1024 * 1024))
    try:
        results = await pool.map(crash, [(3,)])
        again = await pool.map(spin, [(False,)] * 4)
    finally:
        await pool.close()
    assert isinstance(results[0], Overrun) and "stopped" in results[0].reason
    assert again == ["done"] * 4


# -- intake over budget ---------------------------------------------------------------


async def test_a_mail_over_its_reading_time_becomes_needs_triage_with_the_reason(
    make_hub: HubFactory,
) -> None:
    # Given a hub whose reading budget is far shorter than 4 MB of form lines take
    hub = await make_hub(intake={"read_seconds": 0.1})
    slow = multipart(b"Name: x\r\n" * (4 * MB // 9)).replace(b"hostile@", b"slow@")
    hub.source.deliver(slow)  # type: ignore[attr-defined]
    hub.source.deliver(referral(1))  # type: ignore[attr-defined]
    # When intake drains the mailbox
    report = await hub.drain()
    # Then nothing is parked; the slow mail is a needs-triage record saying why
    assert report.parked == 0
    async with hub.ctx.sessions() as s:
        rows = (await s.scalars(select(InboundMessage).order_by(InboundMessage.id))).all()
    assert [row.outcome for row in rows] == ["triage", "case"]
    [result] = [r for r in report.results if r.outcome.value == "triage"]
    assert result.case_ref is not None
    problems = await _problems(hub, result.case_ref)
    assert any("time budget" in problem for problem in problems), problems


async def test_a_strangers_mail_is_quarantined_from_its_headers_without_reading_the_body(
    make_hub: HubFactory,
) -> None:
    # Given the same short budget, and a stranger's 4 MB mail that would overrun it
    hub = await make_hub(intake={"read_seconds": 0.1})
    stranger = multipart(b"Name: x\r\n" * (4 * MB // 9)).replace(
        b"s.holt@lancashire.police.uk", b"someone@evil.example"
    )
    hub.source.deliver(stranger)  # type: ignore[attr-defined]
    report = await hub.drain()
    # Then it is quarantined for its sender: the body was never read, so no budget ran out
    [result] = report.results
    assert result.outcome.value == "quarantine"
    assert result.reason == "sender not on the allowlist"


async def _problems(hub: Any, case_ref: str) -> list[str]:
    from hub.store.models import Case

    async with hub.ctx.sessions() as s:
        case = await s.scalar(select(Case).where(Case.ref == case_ref))
    return list(case.problems)


# -- quarantined mail: kept small, alerted once per sender per hour --------------------


def stranger(n: int, sender: bytes = b"someone@evil.example", size: int = 0) -> bytes:
    """A stranger's mail, ``size`` bytes of junk in its body."""
    return (
        b"From: " + sender + b"\r\nTo: marrac@hub.test\r\nSubject: hello\r\n"
        b"Message-ID: <junk-%d@evil.example>\r\n\r\n" % n + b"x" * size
    )


async def test_large_quarantined_mail_is_kept_as_its_headers_and_hash(
    make_hub: HubFactory,
) -> None:
    import hashlib

    hub = await make_hub(intake={"quarantine_keep_bytes": 4096})
    big, small = stranger(1, size=100_000), stranger(2, size=100)
    hub.source.deliver(big)  # type: ignore[attr-defined]
    hub.source.deliver(small)  # type: ignore[attr-defined]
    await hub.drain()
    async with hub.ctx.sessions() as s:
        rows = (await s.scalars(select(InboundMessage).order_by(InboundMessage.id))).all()
    assert [row.outcome for row in rows] == ["quarantine", "quarantine"]
    # The large one: its header section and the SHA-256 of the whole, and its size
    kept = hub.ctx.sealer.open(rows[0].raw_sealed)
    meta = hub.ctx.sealer.open_json(rows[0].meta_sealed)
    assert kept == big[: big.index(b"\r\n\r\n") + 4]
    assert meta["kept"] == "headers" and meta["sha256"] == hashlib.sha256(big).hexdigest()
    assert rows[0].size == len(big) and len(rows[0].raw_sealed) < 4096
    # The small one: whole, as before
    assert hub.ctx.sealer.open(rows[1].raw_sealed) == small


async def quarantine_alerts(hub: Any) -> list[str]:
    from hub.store.models import OutboxMessage

    async with hub.ctx.sessions() as s:
        keys = (await s.scalars(select(OutboxMessage.dedupe_key))).all()
    return [key for key in keys if key.startswith("alert:quarantine:")]


async def test_quarantine_alerts_are_one_per_sender_per_hour_and_the_digest_counts_all(
    make_hub: HubFactory,
) -> None:
    from datetime import timedelta

    from hub.services import sweep
    from hub.store.models import OutboxMessage

    hub = await make_hub()
    leaders = len(hub.settings.alerts.team_leaders)
    # Given a flood of junk: five mails from one stranger, one from another, this hour
    for n in range(5):
        hub.source.deliver(stranger(n))  # type: ignore[attr-defined]
    hub.source.deliver(stranger(9, b"other@evil.example"))  # type: ignore[attr-defined]
    await hub.drain()
    # Then each team leader has one alert per sender
    assert len(await quarantine_alerts(hub)) == 2 * leaders
    # And an hour later, the same stranger's next mail alerts again
    hub.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    hub.source.deliver(stranger(10))  # type: ignore[attr-defined]
    await hub.drain()
    assert len(await quarantine_alerts(hub)) == 3 * leaders
    # And the daily digest counts all seven
    await sweep.digest(hub.ctx)
    async with hub.ctx.sessions() as s:
        rows = (await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "digest"))).all()
    assert len(rows) == leaders
    body = hub.ctx.sealer.open(rows[0].message_sealed).decode()
    assert "quarantine: 7 message(s) in the last 24 hours" in body
    assert "sender not on the allowlist: 7" in body
