"""The sweep: every warning, chase and escalation that is due, sent once.

The durable truth is in the database: each milestone and open request has a
``next_action_at`` (indexed). The sweep claims the rows whose time has come (on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several hubs share the work), asks the
domain which steps are due at ``now``, writes one ledger row per (subject, step) and the
outbox rows for its mail in the same transaction, and moves ``next_action_at`` on.
A restart, a second hub or a clock jump can neither double a step (the ledger is unique)
nor skip one (``due_steps`` returns every step whose time has passed and is not done).
Its cost follows the number of due rows, not the number of open ones.

Modules: ``milestones`` and ``requests`` (the two kinds of subject), ``ledger`` (what
they share), ``holidays`` (a changed calendar), ``digests`` (the daily digest),
``history`` (what was sent).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from hub.services.context import Context
from hub.services.sweep.digests import digest
from hub.services.sweep.history import alerts_sent
from hub.services.sweep.holidays import CALENDAR_KEY, recompute_if_holidays_changed
from hub.services.sweep.ledger import SweepReport
from hub.services.sweep.milestones import check_closures, sweep_milestones
from hub.services.sweep.requests import sweep_requests
from hub.store.models import InfoRequest, Milestone

__all__ = [
    "CALENDAR_KEY",
    "SweepReport",
    "alerts_sent",
    "digest",
    "recompute_if_holidays_changed",
    "replay",
    "sweep",
]

log = logging.getLogger("hub.sweep")


async def sweep(ctx: Context, now: datetime | None = None, *, batch: int = 500) -> SweepReport:
    """One sweep as of ``now`` (default: the clock's now). A row that fails is parked
    and its batch goes on; a phase that fails outside any row does not stop the phases
    after it, and its error is raised once they have run (the scheduler alerts)."""
    at = now or ctx.clock.now()
    report = SweepReport()
    failure: Exception | None = None
    for phase in (
        lambda: recompute_if_holidays_changed(ctx, at),
        lambda: sweep_milestones(ctx, at, batch, report),
        lambda: sweep_requests(ctx, at, batch, report),
        lambda: check_closures(ctx, at),
    ):
        try:
            await phase()
        except IntegrityError:
            # Another sweeper committed the same work first; what it did is in the
            # database, and the next sweep starts from there. Nothing is lost.
            log.info("event=sweep.raced reason=another sweeper got there first")
        except Exception as exc:  # noqa: BLE001 - raised after the other phases
            failure = failure or exc
    if failure is not None:
        raise failure
    if report.steps:
        log.info(
            "event=sweep.done milestones=%d requests=%d steps=%d mails=%d",
            report.milestones,
            report.requests,
            report.steps,
            report.mails,
        )
    return report


async def replay(ctx: Context, subject: str) -> SweepReport:
    """``parked retry`` for the sweep: make ``milestone:<id>`` or ``request:<id>`` due
    now and sweep; the report's ``parked`` names it again if it failed again."""
    kind, _, number = subject.partition(":")
    if kind not in ("milestone", "request") or not number.isdigit():
        raise LookupError(f"no sweep subject {subject!r}")
    at = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        row: Milestone | InfoRequest | None = await session.get(
            Milestone if kind == "milestone" else InfoRequest, int(number)
        )
        if row is None:
            raise LookupError(f"{subject} no longer exists")
        row.next_action_at = at
    return await sweep(ctx, at)
