"""Deadlines follow the working calendar: when the bank-holiday list (or the working
hours) changes, the open policy-derived deadlines are recomputed once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.deadlines import next_action_at, request_due, steps_for_request
from hub.services.context import Context
from hub.services.sweep.ledger import done_steps
from hub.store.models import HubState, InfoRequest, table_of

log = logging.getLogger("hub.sweep")

CALENDAR_KEY = "calendar-fingerprint"


async def recompute_if_holidays_changed(ctx: Context, now: datetime) -> int:
    """When the bank-holiday list (or working hours) changed since open deadlines were
    computed, recompute the policy-derived ones. Steps are keyed by name, so nothing
    already sent is sent again. Returns how many deadlines moved."""
    today = now.date()
    fingerprint = ctx.calendar.fingerprint(today - timedelta(days=31), today + timedelta(days=400))
    async with ctx.sessions() as session, session.begin():
        state = await session.get(HubState, CALENDAR_KEY, with_for_update=True)
        if state is not None and state.value == fingerprint:
            return 0
        if state is None:
            # Two hubs starting together may both get here: the first insert wins.
            dialect_insert = pg_insert if ctx.dialect == "postgresql" else sqlite_insert
            await session.execute(
                dialect_insert(table_of(HubState))
                .values(key=CALENDAR_KEY, value=fingerprint, updated_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            return 0
        moved = await _move_deadlines(session, ctx)
        log.warning("event=sweep.holidays_changed deadlines_moved=%d", moved)
        state.value, state.updated_at = fingerprint, now
        return moved


async def _move_deadlines(session: AsyncSession, ctx: Context) -> int:
    """Recompute every open policy-derived request deadline and its next action."""
    rows = (
        await session.scalars(
            select(InfoRequest).where(
                InfoRequest.due_rule == "policy", InfoRequest.state.in_(("sent", "opened"))
            )
        )
    ).all()
    done = await done_steps(session, [f"request:{r.id}" for r in rows])
    moved = 0
    for r in rows:
        assert r.sent_at is not None
        due = request_due(r.sent_at, r.urgency, ctx.policy, ctx.calendar)
        if due != r.due_at:
            moved += 1
            r.due_at = due
        steps = steps_for_request(
            r.due_at, ctx.policy, ctx.calendar, urgency=r.urgency, issued_at=r.sent_at
        )
        r.next_action_at = next_action_at(steps, done[f"request:{r.id}"])
    return moved
