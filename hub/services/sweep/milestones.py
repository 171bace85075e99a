"""The sweep of case milestones (the appendix's 48-hour plan, two-week review and
24-hour closure notice): warnings before, escalations after, and closures met once
every notice is delivered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from hub.domain.deadlines import (
    current_steps,
    milestone_state,
    next_action_at,
    steps_for_milestone,
)
from hub.domain.notices import Notice
from hub.services import outbox
from hub.services.context import Context
from hub.services.recipients import staff
from hub.services.sweep.ledger import Batch, SweepReport, claim, done_steps, load_by_id
from hub.services.sweep.wording import MILESTONE_WORDS, relative, when
from hub.store.models import Case, Milestone, OutboxMessage


async def sweep_milestones(ctx: Context, now: datetime, limit: int, report: SweepReport) -> None:
    """Every due milestone step, batch by batch, one transaction each."""
    seen: set[int] = set()
    while True:
        batch = Batch(ctx, now, report)
        async with ctx.sessions() as session, session.begin():
            rows = await claim(session, ctx, Milestone, now, limit, seen)
            if not rows:
                return
            seen |= {m.id for m in rows}
            cases = await load_by_id(session, Case, {m.case_id for m in rows})
            done = await done_steps(session, [f"milestone:{m.id}" for m in rows])
            for m in rows:
                report.milestones += 1
                subject = f"milestone:{m.id}"
                with batch.attempt(subject, m):
                    _warn(batch, m, cases[m.case_id], done[subject])
            await batch.write(session)
        await batch.park_failed()


def _warn(batch: Batch, m: Milestone, case: Case, done: set[str]) -> None:
    """Queue the milestone's due steps and move its ``next_action_at`` on. A milestone
    met, or of a closed case (but the closure notice's own), needs nothing more."""
    ctx, now = batch.ctx, batch.now
    closed = case.closed_at is not None and m.kind != "closure-notice-24h"
    if m.met_at is not None or closed:
        m.next_action_at = None
        return
    subject = f"milestone:{m.id}"
    steps = steps_for_milestone(m.kind, m.due_at, ctx.policy)
    catchup = current_steps(steps, done, now)
    for stale in catchup.superseded:
        done.add(stale.name)
        batch.supersede(subject, case.ref, stale)
    for step in catchup.send:
        recipients = staff(ctx, step.recipients, case.coordinator)
        done.add(step.name)
        batch.record(subject, case.ref, step, recipients)
        for address in recipients:
            batch.mail(_milestone_notice(ctx, case, m, step.name, address, now))
    m.state = milestone_state(m.due_at, m.met_at, now)
    m.next_action_at = next_action_at(steps, done)


def _milestone_notice(
    ctx: Context, case: Case, m: Milestone, step: str, address: str, now: datetime
) -> Notice:
    """The milestone's mail, worded for ``now`` (a late sweep says how late it is)."""
    where = relative(m.due_at, now)
    state = (
        "MISSED" if where.endswith("overdue") else (where if where == "due now" else "coming up")
    )
    body = (
        f"Case {case.ref}: milestone {state}.\n\n"
        f"Milestone: {MILESTONE_WORDS.get(m.kind, m.kind)}\n"
        f"Due: {when(ctx, m.due_at)} ({where})\n"
        f"Co-ordinator: {case.coordinator or 'not allocated yet'}\n\n"
    )
    if m.kind == "plan-48h":
        body += f"When the plan is agreed: marrac-hub cases plan {case.ref} --agreed\n"
    elif m.kind == "review-2w":
        body += f"When reviewed: marrac-hub cases review {case.ref} --risk LEVEL\n"
    return Notice(
        kind=f"alert:{m.kind}",
        recipient=address,
        subject=f"[MARRAC] {case.ref}: {m.kind} {where}",
        body=body,
        dedupe_key=f"step:milestone:{m.id}:{step}:{outbox.recipient_tag(ctx, address)}",
        subject_ref=case.ref,
    )


async def check_closures(ctx: Context, now: datetime) -> None:
    """A closure milestone is met when every closure notice has been delivered."""
    async with ctx.sessions() as session, session.begin():
        pending = (
            await session.scalars(
                select(Milestone).where(
                    Milestone.kind == "closure-notice-24h", Milestone.met_at.is_(None)
                )
            )
        ).all()
        for m in pending:
            rows = (
                await session.execute(
                    select(OutboxMessage.state, OutboxMessage.sent_at).where(
                        OutboxMessage.dedupe_key.like(f"closure:{m.case_id}:%")
                    )
                )
            ).all()
            if rows and all(state == "sent" for state, _ in rows):
                m.met_at = max(sent for _, sent in rows if sent is not None)
                m.state = milestone_state(m.due_at, m.met_at, now)
                m.next_action_at = None
