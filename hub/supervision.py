"""Loops that never die and a shutdown that never hangs (README: the pollers never die).

:func:`keep_running` runs each of the runtime's loops (intake, replies, outbox, web): an
unexpected exception outside any item is logged with where it was raised, alerted to the
team leaders (once per loop, error and hour) and the loop starts again after a backoff
with jitter (:class:`hub.domain.retry.Backoff`). :class:`Jobs` does the same for the
scheduler's jobs (the sweep, the digest). Items that fail are parked by the stages
themselves; what reaches here failed outside any item.

Shutdown is prompt and bounded: a job in flight gets a moment, then every task is
cancelled, and a clean-up step that does not finish in time (a close or release against
a server that no longer answers) is logged and left behind rather than waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from hub.domain.retry import Backoff
from hub.services import parked
from hub.services.context import Context

log = logging.getLogger("hub.runtime")


async def keep_running(
    ctx: Context, name: str, body: Callable[[], Awaitable[None]], cap: float
) -> None:
    """Run a loop that must never die (README: the pollers never die). An unexpected
    exception is logged with where it was raised, alerted (:func:`parked.alert_loop`:
    once per loop, error and hour) and the loop starts again after a backoff that grows
    (with jitter) up to ``cap`` seconds while it keeps failing. Cancellation stops it."""
    backoff = Backoff(cap, ctx.rng)
    while True:
        started = ctx.clock.monotonic()
        try:
            await body()
            return
        except Exception as exc:  # noqa: BLE001 - logged, alerted, started again
            if ctx.clock.monotonic() - started > cap:
                backoff.reset()  # it ran well for a while: this is a new failure
            delay = backoff.next()
            await report_failure(ctx, name, exc, delay)
            await asyncio.sleep(delay)


async def report_failure(ctx: Context, name: str, exc: Exception, delay: float) -> None:
    """Log where a loop or job failed and when it runs again, and alert the team leaders
    (once per loop, error and hour: :func:`parked.alert_loop`)."""
    log.error(
        "event=%s.failed error=%s retry_in=%.1fs where=%s",
        name,
        type(exc).__name__,
        delay,
        parked.describe(exc),
    )
    await bounded(parked.alert_loop(ctx, name, exc), f"{name}.alert")


async def bounded(step: Awaitable[None], what: str, seconds: float = 5.0) -> None:
    """A clean-up step that may not hold shutdown up (a close or release against a
    server that no longer answers): given up, and logged, after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        log.warning("event=%s.timeout seconds=%.0f", what, seconds)
    except Exception as exc:  # noqa: BLE001 - a clean-up step's failure changes nothing
        log.info("event=%s.failed error=%s", what, type(exc).__name__)


@dataclass
class Jobs:
    """The scheduler's jobs: known to ``running`` while they run; a failed one logged,
    alerted and run again after a backoff (up to the sweep interval)."""

    ctx: Context
    wake: asyncio.Event
    running: set[asyncio.Task[Any]]
    scheduler: AsyncIOScheduler
    backoffs: dict[str, Backoff] = field(default_factory=dict)

    async def run(self, name: str, job: Callable[[], Awaitable[bool]]) -> None:
        """Run one job; wake the outbox if it queued mail."""
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        cap = self.ctx.settings.scheduler.sweep_seconds
        backoff = self.backoffs.setdefault(name, Backoff(cap, self.ctx.rng))
        try:
            if await job():
                self.wake.set()
            backoff.reset()
        except Exception as exc:  # noqa: BLE001 - logged, alerted and run again soon
            delay = backoff.next()
            await report_failure(self.ctx, name, exc, delay)
            again = self.ctx.clock.now() + timedelta(seconds=delay)
            with contextlib.suppress(Exception):  # the scheduler may be shutting down
                self.scheduler.modify_job(name, next_run_time=again)
        finally:
            self.running.discard(task)


# Within systemd's stop timeout (90 s) by far, and a test's (20 s).
JOB_GRACE_SECONDS = 2.0
STOP_SECONDS = 5.0


async def finish(tasks: set[asyncio.Task[Any]], grace: float) -> None:
    """Give tasks ``grace`` seconds to end, then cancel what is left."""
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=grace)
    if pending:
        await stop_loops(list(pending))


async def stop_loops(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel every loop and wait (at most ``STOP_SECONDS``) until each has finished its
    cleanup; one that has not is named in the log and left behind."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=STOP_SECONDS)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning(
                "event=serve.stop_failed task=%s error=%s",
                task.get_name(),
                type(task.exception()).__name__,
            )
    for task in pending:
        log.warning("event=serve.stuck task=%s seconds=%.0f", task.get_name(), STOP_SECONDS)


# After ``serve`` has stopped, the process leaves within this many seconds whatever else
# is still running.
EXIT_DEADLINE_SECONDS = 30.0


def arm_exit_deadline(code: int, seconds: float = EXIT_DEADLINE_SECONDS) -> threading.Timer:
    """Make sure a stopped hub leaves: if the process is still here ``seconds`` later
    (a worker thread in an IMAP connect, a database call waiting on a lock: Python 3.11
    waits for such threads without limit), log it and exit with ``code``. Safe because
    nothing is acknowledged before it is committed (STYLE.md habit 1): what a forced exit
    cuts short is work that will be done again. The timer is a daemon thread, so a
    process that leaves in time is not held by it."""

    def leave() -> None:
        log.error("event=serve.forced_exit after=%.0fs code=%d", seconds, code)
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(seconds, leave)
    timer.daemon = True
    timer.start()
    return timer
