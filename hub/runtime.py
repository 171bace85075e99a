"""Builds the hub from its settings and runs intake and the outbox in one asyncio process.

Each loop handles one item at a time; an unexpected error on an item parks that item
under its stage's name and the loop goes on (DESIGN.md, "Failure handling"). An
unavailable mailbox, SMTP server or database is not an item's fault: the loop backs off
and tries again, and the item stays where it was (in the mailbox, or in the outbox)
until it can be handled. An unexpected error outside any item is logged and alerted,
and the loop starts again after a backoff (:func:`keep_running`): no loop dies.
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
from hub.services import parked, rotation, sweep
from hub.services.context import Context
from hub.services.intake import IngestResult, ingest_batch
from hub.services.outbox import deliver_due
from hub.services.replies import file_reply
from hub.store.leadership import Leadership
from hub.supervision import JOB_GRACE_SECONDS, Jobs, bounded, finish, keep_running, stop_loops

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
# Each mailbox stage parks under its own name, so ``parked retry`` replays an item
# through the code that failed on it (a reply is filed again, never read as a referral).
STAGE_OF: dict[Record, str] = {ingest_batch: "intake", file_replies: "replies"}
RECORD_OF: dict[str, Record] = {stage: record for record, stage in STAGE_OF.items()}


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
    """Ingest one message; park it (under its stage's name) if it fails for a reason of
    its own."""
    record = record or ingest_batch
    try:
        result = (await record(ctx, [item]))[0]
    except UNAVAILABLE:
        raise
    except Exception as exc:  # noqa: BLE001 - park the item, keep the loop alive
        await parked.park(ctx, STAGE_OF.get(record, "intake"), item.source_key, exc, item.raw)
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
                "event=%s.batch_failed size=%d error=%s",
                STAGE_OF.get(record, "intake"),
                len(items),
                type(exc).__name__,
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
    """Lead the mailbox, drain it, wait for mail; on an outage back off and reconnect;
    on anything unexpected, alert and start again (:func:`keep_running`)."""
    stage = STAGE_OF.get(record, "intake")
    first = factory(ctx.settings)
    assert first is not None
    leadership = Leadership(ctx.engine, ctx.settings.hub.data_dir, first.name)

    async def read() -> None:
        await _read_mailbox(ctx, stage, outbox_wake, factory, record, leadership)

    try:
        await keep_running(ctx, stage, read, ctx.settings.intake.reconnect_max_seconds)
    finally:
        await bounded(leadership.release(), f"{stage}.leadership")


async def _read_mailbox(
    ctx: Context,
    stage: str,
    outbox_wake: asyncio.Event,
    factory: Callable[[Settings], MailboxSource | None],
    record: Record,
    leadership: Leadership,
) -> None:
    backoff = Backoff(ctx.settings.intake.reconnect_max_seconds, ctx.rng)
    while True:
        source = factory(ctx.settings)
        assert source is not None
        try:
            await lead(ctx, leadership)
            while True:
                report = await drain(ctx, source, outbox_wake, record)
                if report.total:
                    log.info(
                        "event=%s.drained %s parked=%d",
                        stage,
                        " ".join(f"{k}={v}" for k, v in sorted(report.outcomes.items())),
                        report.parked,
                    )
                backoff.reset()
                await source.wait_for_mail(ctx.settings.intake.poll_seconds)
        except UNAVAILABLE as exc:
            delay = backoff.next()
            log.warning(
                "event=%s.unavailable error=%s retry_in=%.1fs", stage, type(exc).__name__, delay
            )
            # A database outage may have taken the leader's lock connection with it.
            await leadership.release()
            await asyncio.sleep(delay)
        finally:
            await bounded(source.close(), f"{stage}.close")


async def outbox_loop(ctx: Context, wake: asyncio.Event, sender: MailSender | None = None) -> None:
    """Deliver what is due, then wait to be woken (new mail queued) or for the poll
    interval; while the database is down, back off; on anything unexpected, alert and
    start again (:func:`keep_running`)."""
    chosen = sender or make_sender(ctx.settings)

    async def deliver() -> None:
        backoff = Backoff(ctx.settings.outbox.backoff_max_seconds, ctx.rng)
        while True:
            try:
                await deliver_due(ctx, chosen)
                backoff.reset()
            except (OperationalError, DBAPIError) as exc:
                log.warning("event=outbox.db_unavailable error=%s", type(exc).__name__)
                await asyncio.sleep(backoff.next())
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), ctx.settings.outbox.poll_seconds)

    await keep_running(ctx, "outbox", deliver, ctx.settings.outbox.backoff_max_seconds)


def start_scheduler(
    ctx: Context, wake: asyncio.Event, running: set[asyncio.Task[Any]]
) -> AsyncIOScheduler:
    """APScheduler runs the short periodic jobs: the sweep, the daily digest and the
    re-seal after a key rotation (a no-op once done). A job that fails is logged and
    alerted and runs again after a backoff (:class:`Jobs`); what is due is always
    recomputed from the database, so a missed run loses nothing. Jobs in flight are
    tracked in ``running`` so that shutting down can give them a moment to finish."""
    scheduler = AsyncIOScheduler(timezone=ctx.settings.hub.timezone)
    jobs = Jobs(ctx, wake, running, scheduler)

    async def sweep_job() -> None:
        await jobs.run("sweep", lambda: _swept(ctx))

    async def digest_job() -> None:
        await jobs.run("digest", lambda: _digested(ctx))

    async def reseal_job() -> None:  # after `keys rotate`: see hub.services.rotation
        await jobs.run("reseal", lambda: _resealed(ctx))

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
    seconds = ctx.settings.scheduler.sweep_seconds
    scheduler.add_job(reseal_job, "interval", seconds=seconds, id="reseal", coalesce=True)
    scheduler.start()
    # The first sweep runs at once: a hub that was down catches up before anything else.
    scheduler.modify_job("sweep", next_run_time=ctx.clock.now())
    return scheduler


async def _swept(ctx: Context) -> bool:
    return (await sweep.sweep(ctx)).mails > 0


async def _digested(ctx: Context) -> bool:
    return await sweep.digest(ctx) > 0


async def _resealed(ctx: Context) -> bool:
    await rotation.reseal(ctx)
    return False


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
        tasks.append(asyncio.create_task(keep_running(ctx, "web", web, 60.0), name="web"))
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
    log.info("event=serve.stopping")
    # No new jobs; a sweep in flight may finish, briefly (it is safe to cancel: its
    # transaction rolls back and the next sweep recomputes what is due).
    scheduler.pause()
    await finish(jobs, grace=JOB_GRACE_SECONDS)
    scheduler.shutdown(wait=False)
    stopper.cancel()
    await stop_loops(tasks)
    for task in done:
        error = None if task is stopper or task.cancelled() else task.exception()
        if error is not None:
            raise error
    log.info("event=serve.stopped")
