"""The daily digest: for each co-ordinator (and the team leaders, for unallocated
cases), what is due today and what is overdue. Once per recipient per day."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.notices import Notice
from hub.services import outbox
from hub.services.context import Context
from hub.services.recipients import staff
from hub.services.sweep.wording import when
from hub.store.models import Case, InboundMessage, InfoRequest, Milestone


async def digest(ctx: Context, now: datetime | None = None, *, on_demand: bool = False) -> int:
    """The 08:00 digest, queued once per recipient per day. Returns how many
    recipients have one. ``on_demand`` (``marrac-hub digest --now``): a digest as of
    this minute, sent even when today's has gone already."""
    now = now or ctx.clock.now()
    stamp = f":now:{now:%H%M}" if on_demand else ""
    tz = ZoneInfo(ctx.settings.hub.timezone)
    today = now.astimezone(tz).date()
    end_of_day = datetime.combine(today + timedelta(days=1), datetime.min.time(), tz)
    async with ctx.sessions() as session, session.begin():
        lines = await _due_lines(session, ctx, now, end_of_day)
        await _quarantined_lines(session, ctx, now, lines)
        for who, items in lines.items():
            await outbox.enqueue(
                session,
                ctx,
                Notice(
                    kind="digest",
                    recipient=who,
                    subject=f"[MARRAC] Today ({today:%a %d %b}): {len(items)} due or overdue",
                    body="Due today or overdue:\n\n" + "\n".join(sorted(items)) + "\n",
                    dedupe_key=f"digest:{today.isoformat()}{stamp}:"
                    f"{outbox.recipient_tag(ctx, who)}",
                ),
            )
    return len(lines)


async def _due_lines(
    session: AsyncSession, ctx: Context, now: datetime, end_of_day: datetime
) -> dict[str, list[str]]:
    """Each recipient's lines: open milestones and requests due before the day ends."""
    lines: dict[str, list[str]] = defaultdict(list)
    milestones = (
        await session.execute(
            select(Milestone, Case.ref, Case.coordinator)
            .join(Case, Case.id == Milestone.case_id)
            .where(
                Milestone.met_at.is_(None),
                Case.closed_at.is_(None),
                Milestone.due_at < end_of_day,
            )
        )
    ).all()
    for m, ref, coordinator in milestones:
        state = "OVERDUE" if m.due_at < now else "due today"
        for who in staff(ctx, ("coordinator",), coordinator):
            lines[who].append(f"- {ref}: {m.kind} {state} ({when(ctx, m.due_at)})")
    requests = (
        await session.execute(
            select(InfoRequest, Case.ref, Case.coordinator)
            .join(Case, Case.id == InfoRequest.case_id)
            .where(InfoRequest.state.in_(("sent", "opened")), InfoRequest.due_at < end_of_day)
        )
    ).all()
    for r, ref, coordinator in requests:
        state = "OVERDUE" if r.due_at < now else "due today"
        for who in staff(ctx, ("coordinator",), coordinator):
            lines[who].append(f"- {ref}: request {r.ref} {state} ({when(ctx, r.due_at)})")
    return lines


async def _quarantined_lines(
    session: AsyncSession, ctx: Context, now: datetime, lines: dict[str, list[str]]
) -> None:
    """The team leaders' line on the last day's quarantined mail, counted by reason: the
    alerts about it are grouped (one per sender per hour), so the digest has them all."""
    counts = (
        await session.execute(
            select(InboundMessage.reason, func.count())
            .where(
                InboundMessage.outcome == "quarantine",
                InboundMessage.received_at >= now - timedelta(days=1),
            )
            .group_by(InboundMessage.reason)
            .order_by(InboundMessage.reason)
        )
    ).all()
    if not counts:
        return
    total = sum(int(n) for _, n in counts)
    reasons = "; ".join(f"{reason}: {n}" for reason, n in counts)
    for leader in ctx.settings.alerts.team_leaders:
        lines[leader].append(
            f"- quarantine: {total} message(s) in the last 24 hours ({reasons});"
            " marrac-hub quarantine list"
        )
