"""Builds the hub from its settings and runs intake and the outbox in one asyncio process.

Each loop handles one item at a time; an unexpected error on an item parks that item and
the loop goes on (DESIGN.md, "Failure handling"). An unavailable mailbox, SMTP server or
database is not an item's fault: the loop backs off and tries again, and the item stays
where it was (in the mailbox, or in the outbox) until it can be handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, OperationalError

from connectors.imap import ImapSource, MailboxUnavailable
from connectors.maildir import MaildirSender, MaildirSource
from connectors.smtp import SmtpSender
from hub.config import Settings
from hub.domain.retry import Backoff
from hub.ports import InboundItem, MailboxSource, MailSender, Settled
from hub.services import parked, sweep
from hub.services.context import Context
from hub.services.intake import IngestResult, ingest_batch
from hub.services.outbox import deliver_due
from hub.services.replies import file_reply
from hub.store.leadership import Leadership

log = logging.getLogger("hub.runtime")

# Errors that mean "a service is down", not "this item is bad": never park for these.
UNAVAILABLE = (MailboxUnavailable, OperationalError, DBAPIError, ConnectionError, TimeoutError)


def make_source(settings: Settings) -> MailboxSource:
    """The referral mailbox the settings name: IMAP, or the demo's Maildir."""
    intake = settings.intake
    if intake.source == "maildir":
        assert intake.maildir is not None
        return MaildirSource(intake.maildir, intake.processed_folder, intake.quarantine_folder)
    return ImapSource(intake)


def make_reply_source(settings: Settings) -> MailboxSource | None:
    """The agencies' replies mailbox, when configured (a password is set)."""
    replies = settings.replies
    if not replies.enabled or settings.intake.source != "imap":
        return None
    return ImapSource(
        settings.intake,
        username=replies.username,
        password=replies.password,
        mailbox=replies.mailbox,
    )


async def file_replies(ctx: Context, items: list[InboundItem]) -> list[IngestResult]:
    """The replies mailbox's way to record a batch: each reply filed on its own."""
    return [await file_reply(ctx, item) for item in items]


Record = Callable[[Context, list[InboundItem]], Awaitable[list[IngestResult]]]


def make_sender(settings: Settings) -> MailSender:
    """The mail sender the settings name: SMTP, or the demo's Maildir drop."""
    if settings.smtp.transport == "maildir":
        assert settings.smtp.maildir is not None
        return MaildirSender(settings.smtp.maildir)
    return SmtpSender(settings.smtp)


@dataclass
class DrainReport:
    """What one drain of the mailbox did, by outcome."""

    outcomes: dict[str, int] = field(default_factory=dict)
    parked: int = 0
    results: list[IngestResult] = field(default_factory=list)

    def add(self, result: IngestResult) -> None:
        key = "already" if result.already else result.outcome.value
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.results.append(result)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values()) + self.parked


async def handle(
    ctx: Context, item: InboundItem, report: DrainReport, record: Record | None = None
) -> Settled:
    """Ingest one message; park it if it fails for a reason of its own."""
    try:
        result = (await (record or ingest_batch)(ctx, [item]))[0]
    except UNAVAILABLE:
        raise
    except Exception as exc:  # noqa: BLE001 - park the item, keep the loop alive
        await parked.park(ctx, "intake", item.source_key, exc, item.raw)
        report.parked += 1
        return Settled(item, "quarantine")
    report.add(result)
    return Settled(item, "quarantine" if result.quarantined else "processed")


async def drain(
    ctx: Context,
    source: MailboxSource,
    on_batch: asyncio.Event | None = None,
    record: Record = ingest_batch,
) -> DrainReport:
    """Read the mailbox until it is empty: commit each batch, then acknowledge it.

    A batch is committed in one transaction; if that fails for a reason of its own (not
    an outage), its messages are retried one by one so that only the bad one is parked.
    """
    report = DrainReport()
    while True:
        items = await source.fetch(ctx.settings.intake.batch_size)
        if not items:
            return report
        try:
            results = await record(ctx, items)
        except UNAVAILABLE:
            raise
        except Exception as exc:  # noqa: BLE001 - fall back to one at a time
            log.warning(
                "event=intake.batch_failed size=%d error=%s", len(items), type(exc).__name__
            )
            settled = [await handle(ctx, item, report, record) for item in items]
        else:
            for result in results:
                report.add(result)
            settled = [
                Settled(item, "quarantine" if r.quarantined else "processed")
                for item, r in zip(items, results, strict=True)
            ]
        await source.acknowledge(settled)
        if on_batch is not None:
            on_batch.set()


async def lead(ctx: Context, leadership: Leadership) -> None:
    """Wait until this process is the mailbox's intake leader."""
    announced = False
    while not await leadership.try_acquire():
        if not announced:
            log.info("event=intake.standby reason=another process leads this mailbox")
            announced = True
        await asyncio.sleep(min(ctx.settings.intake.poll_seconds, 2.0))
    log.info("event=intake.leading")


async def intake_loop(
    ctx: Context,
    outbox_wake: asyncio.Event,
    factory: Callable[[Settings], MailboxSource | None] = make_source,
    record: Record = ingest_batch,
) -> None:
    """Lead the mailbox, drain it, wait for mail; on an outage back off and reconnect."""
    backoff = Backoff(ctx.settings.intake.reconnect_max_seconds, ctx.rng)
    first = factory(ctx.settings)
    assert first is not None
    leadership = Leadership(ctx.engine, ctx.settings.hub.data_dir, first.name)
    try:
        while True:
            source = factory(ctx.settings)
            assert source is not None
            try:
                await lead(ctx, leadership)
                while True:
                    report = await drain(ctx, source, outbox_wake, record)
                    if report.total:
                        log.info(
                            "event=intake.drained %s parked=%d",
                            " ".join(f"{k}={v}" for k, v in sorted(report.outcomes.items())),
                            report.parked,
                        )
                    backoff.reset()
                    await source.wait_for_mail(ctx.settings.intake.poll_seconds)
            except UNAVAILABLE as exc:
                delay = backoff.next()
                log.warning(
                    "event=intake.unavailable error=%s retry_in=%.1fs", type(exc).__name__, delay
                )
                # A database outage may have taken the leader's lock connection with it.
                await leadership.release()
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await source.close()
    finally:
        await leadership.release()


async def outbox_loop(ctx: Context, wake: asyncio.Event) -> None:
    """Deliver what is due, then wait to be woken (new mail queued) or for the poll
    interval; while the database is down, back off."""
    sender = make_sender(ctx.settings)
    backoff = Backoff(ctx.settings.outbox.backoff_max_seconds, ctx.rng)
    while True:
        try:
            await deliver_due(ctx, sender)
            backoff.reset()
        except (OperationalError, DBAPIError) as exc:
            log.warning("event=outbox.db_unavailable error=%s", type(exc).__name__)
            await asyncio.sleep(backoff.next())
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), ctx.settings.outbox.poll_seconds)


def start_scheduler(
    ctx: Context, wake: asyncio.Event, running: set[asyncio.Task[Any]]
) -> AsyncIOScheduler:
    """APScheduler runs the short periodic jobs: the sweep and the daily digest. A job
    that fails is logged by APScheduler and runs again at its next time; what is due is
    always recomputed from the database, so a missed run loses nothing. Jobs in flight
    are tracked in ``running`` so that shutting down lets them finish."""
    scheduler = AsyncIOScheduler(timezone=ctx.settings.hub.timezone)

    async def sweep_job() -> None:
        await _tracked(lambda: _swept(ctx), wake, running)

    async def digest_job() -> None:
        await _tracked(lambda: _digested(ctx), wake, running)

    hour, _, minute = ctx.settings.scheduler.digest_time.partition(":")
    scheduler.add_job(
        sweep_job,
        "interval",
        seconds=ctx.settings.scheduler.sweep_seconds,
        id="sweep",
        max_instances=1,
        coalesce=True,
        next_run_time=None,
    )
    scheduler.add_job(
        digest_job,
        "cron",
        hour=int(hour),
        minute=int(minute),
        id="digest",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,
    )
    scheduler.start()
    # The first sweep runs at once: a hub that was down catches up before anything else.
    scheduler.modify_job("sweep", next_run_time=ctx.clock.now())
    return scheduler


async def _tracked(
    job: Callable[[], Awaitable[bool]], wake: asyncio.Event, running: set[asyncio.Task[Any]]
) -> None:
    """Run one job, known to ``running`` while it runs; wake the outbox if it queued mail."""
    task = asyncio.current_task()
    assert task is not None
    running.add(task)
    try:
        if await job():
            wake.set()
    finally:
        running.discard(task)


async def _swept(ctx: Context) -> bool:
    return (await sweep.sweep(ctx)).mails > 0


async def _digested(ctx: Context) -> bool:
    return await sweep.digest(ctx) > 0


async def supervise(name: str, start: Callable[[], Awaitable[None]], cap: float = 60.0) -> None:
    """Run a service that should never stop (the web server); if it fails, log why and
    start it again with backoff, without taking intake or the outbox down with it."""
    backoff = Backoff(cap)
    while True:
        try:
            await start()
            return
        except Exception as exc:  # noqa: BLE001 - logged and retried; the others run on
            delay = backoff.next()
            log.error("event=%s.failed error=%s retry_in=%.1fs", name, type(exc).__name__, delay)
            await asyncio.sleep(delay)


def start_loops(
    ctx: Context, wake: asyncio.Event, web: Callable[[], Awaitable[None]] | None
) -> list[asyncio.Task[None]]:
    """Intake, the outbox, the replies mailbox (when configured) and the web server
    (given), each its own task."""
    tasks = [
        asyncio.create_task(intake_loop(ctx, wake), name="intake"),
        asyncio.create_task(outbox_loop(ctx, wake), name="outbox"),
    ]
    if make_reply_source(ctx.settings) is not None:
        tasks.append(
            asyncio.create_task(
                intake_loop(ctx, wake, make_reply_source, file_replies), name="replies"
            )
        )
    if web is not None:
        tasks.append(asyncio.create_task(supervise("web", web), name="web"))
    return tasks


async def serve(ctx: Context, web: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run intake, replies, the outbox and (given) the web server until SIGTERM or
    SIGINT, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    wake = asyncio.Event()
    tasks = start_loops(ctx, wake, web)
    jobs: set[asyncio.Task[Any]] = set()
    scheduler = start_scheduler(ctx, wake, jobs)
    log.info(
        "event=serve.started pid=%d source=%s transport=%s",
        os.getpid(),
        ctx.settings.intake.source,
        ctx.settings.smtp.transport,
    )
    stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    # No new jobs; a sweep in flight finishes (APScheduler's shutdown would cancel it).
    scheduler.pause()
    if jobs:
        await asyncio.wait(set(jobs), timeout=15)
    scheduler.shutdown(wait=False)
    stopper.cancel()
    await stop_loops(tasks)
    for task in done:
        error = None if task is stopper else task.exception()
        if error is not None:
            raise error
    log.info("event=serve.stopped")


async def stop_loops(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel every loop and wait until each has finished its cleanup."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
