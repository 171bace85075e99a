"""What co-ordinators and team leaders record about a case: allocation, the plan agreed
with the MEs, the two-week review, and closure (report section 5.3, steps 3, 10, 12, 13;
the appendix's milestones). Each is one transaction, audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain import notices
from hub.domain.deadlines import (
    milestone_due,
    milestone_state,
    next_action_at,
    steps_for_milestone,
)
from hub.domain.notices import Notice
from hub.domain.requests import is_open
from hub.services import audit, outbox
from hub.services.context import Context
from hub.store.models import (
    Agency,
    AlertStep,
    Case,
    InfoRequest,
    Milestone,
    OutboxMessage,
    RequestLink,
)


class CaseworkError(Exception):
    """The case cannot be changed as asked (the message says why)."""


async def _case(session: AsyncSession, ref: str) -> Case:
    """The open case ``ref``; a closed or unknown one cannot be changed."""
    case = await session.scalar(select(Case).where(Case.ref == ref))
    if case is None:
        raise CaseworkError(f"no case {ref}")
    if case.closed_at is not None:
        raise CaseworkError(f"case {ref} is closed")
    return case


async def _milestone(session: AsyncSession, case_id: int, kind: str) -> Milestone | None:
    return await session.scalar(
        select(Milestone).where(Milestone.case_id == case_id, Milestone.kind == kind)
    )


def _meet(m: Milestone, now: datetime) -> None:
    m.met_at = now
    m.state = milestone_state(m.due_at, now, now)
    m.next_action_at = None


async def _done_steps(session: AsyncSession, m: Milestone) -> set[str]:
    """The milestone's steps already in the ledger."""
    return set(
        (
            await session.scalars(
                select(AlertStep.step).where(AlertStep.subject == f"milestone:{m.id}")
            )
        ).all()
    )


async def _cancel_steps(session: AsyncSession, ctx: Context, m: Milestone, now: datetime) -> None:
    """Record the steps that will now never be sent, so the ledger tells the whole story."""
    done = await _done_steps(session, m)
    for step in steps_for_milestone(m.kind, m.due_at, ctx.policy):
        if step.name not in done:
            session.add(
                AlertStep(
                    subject=f"milestone:{m.id}",
                    step=step.name,
                    kind=m.kind,
                    due_at=step.due,
                    done_at=now,
                    outcome="cancelled",
                    recipients=[],
                )
            )


async def allocate(ctx: Context, ref: str, coordinator: str, actor: str) -> None:
    """Name the case co-ordinator: from now on warnings go to them."""
    now = ctx.clock.now()
    if "@" not in coordinator:
        raise CaseworkError("the co-ordinator is named by email address")
    async with ctx.sessions() as session, session.begin():
        case = await _case(session, ref)
        case.coordinator = coordinator.strip().lower()
        case.allocated_at = now
        await outbox.enqueue(
            session,
            ctx,
            Notice(
                kind="alert:allocated",
                recipient=case.coordinator,
                subject=f"[MARRAC] Case {ref} allocated to you",
                body=f"Case {ref} has been allocated to you.\n\nOpen it with: "
                f"marrac-hub cases show {ref}\n",
                dedupe_key=f"allocated:{case.id}:{outbox.recipient_tag(ctx, case.coordinator)}",
                subject_ref=ref,
            ),
        )
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="case.allocate",
            object_ref=ref,
            detail={"coordinator": case.coordinator},
        )


async def plan_agreed(ctx: Context, ref: str, actor: str) -> str:
    """The SMART plan is agreed with the MEs: the 48-hour milestone is met, and the
    two-week review is now counted from the plan."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        case = await _case(session, ref)
        if case.plan_agreed_at is not None:
            raise CaseworkError(f"case {ref}: the plan was recorded already")
        case.plan_agreed_at = now
        plan = await _milestone(session, case.id, "plan-48h")
        state = "met"
        if plan is not None:
            await _cancel_steps(session, ctx, plan, now)
            _meet(plan, now)
            state = plan.state
        review = await _milestone(session, case.id, "review-2w")
        if review is not None and review.met_at is None:
            review.anchor_at = now
            review.due_at = milestone_due("review-2w", now, ctx.policy, ctx.calendar)
            steps = steps_for_milestone("review-2w", review.due_at, ctx.policy)
            review.next_action_at = next_action_at(steps, await _done_steps(session, review))
            review.state = "pending"
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="case.plan",
            object_ref=ref,
            detail={"milestone": state},
        )
        return state


async def reviewed(ctx: Context, ref: str, risk: str, actor: str) -> str:
    """Progress checked and risk re-reviewed: the two-week milestone is met."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        case = await _case(session, ref)
        case.reviewed_at = now
        case.review_risk = risk[:40]
        review = await _milestone(session, case.id, "review-2w")
        state = "met"
        if review is not None and review.met_at is None:
            await _cancel_steps(session, ctx, review, now)
            _meet(review, now)
            state = review.state
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="case.review",
            object_ref=ref,
            detail={"risk": case.review_risk, "milestone": state},
        )
        return state


async def close(ctx: Context, ref: str, reason: str, actor: str) -> int:
    """Close the case: every agency involved is told (through the outbox), open requests
    are withdrawn, and the 24-hour closure milestone starts; the sweep marks it met when
    every notice has been delivered. Returns how many agencies are told."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        case = await _case(session, ref)
        case.closed_at = now
        case.status = "closed"
        case.closure_sealed = ctx.sealer.seal(reason.encode())
        await _stop_milestones(session, ctx, case, now)
        asked = await _withdraw_requests(session, case, now)
        agencies = (
            list((await session.scalars(select(Agency).where(Agency.id.in_(asked)))).all())
            if asked
            else []
        )
        for agency in agencies:
            for address in agency.emails:
                notice = _closure_notice(ctx, case, agency, asked[agency.id], address)
                await outbox.enqueue(session, ctx, notice)
        await _tell_referrer(session, ctx, case)
        session.add(_closure_milestone(ctx, case, now, told=bool(agencies)))
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="case.close",
            object_ref=ref,
            detail={"agencies": len(agencies)},
        )
        return len(agencies)


async def _stop_milestones(session: AsyncSession, ctx: Context, case: Case, now: datetime) -> None:
    """The case's open milestones stop: their unsent steps are cancelled in the ledger."""
    for m in (
        await session.scalars(
            select(Milestone).where(Milestone.case_id == case.id, Milestone.met_at.is_(None))
        )
    ).all():
        await _cancel_steps(session, ctx, m, now)
        m.next_action_at = None
        m.state = milestone_state(m.due_at, None, now)


async def _withdraw_requests(
    session: AsyncSession, case: Case, now: datetime
) -> dict[int, list[str]]:
    """Withdraw the case's open requests and revoke their links. Returns every agency the
    case ever asked (they are all told of the closure), by id, with its requests'
    references."""
    requests = (
        await session.scalars(select(InfoRequest).where(InfoRequest.case_id == case.id))
    ).all()
    for r in requests:
        if is_open(r.state):
            r.state = "withdrawn"
            r.closed_at = now
            r.next_action_at = None
            for link in (
                await session.scalars(select(RequestLink).where(RequestLink.request_id == r.id))
            ).all():
                link.revoked_at = link.revoked_at or now
    asked: dict[int, list[str]] = {}
    for r in sorted(requests, key=lambda r: r.id):
        asked.setdefault(r.agency_id, []).append(r.ref or f"#{r.id}")
    return asked


async def _tell_referrer(session: AsyncSession, ctx: Context, case: Case) -> None:
    """The police referrer hears the case is closed: at every address the referral was
    acknowledged to (the authenticated sender and allowlisted addresses only)."""
    assert case.ref is not None
    sealed = await session.scalars(
        select(OutboxMessage.recipient_sealed).where(
            OutboxMessage.kind == "ack", OutboxMessage.subject_ref == case.ref
        )
    )
    for address in sorted({ctx.sealer.open(s).decode() for s in sealed.all()}):
        await outbox.enqueue(
            session,
            ctx,
            notices.referrer_closure(
                recipient=address,
                case_ref=case.ref,
                force_reference=case.force_reference,
                dedupe_key=f"closed-referrer:{case.id}:{outbox.recipient_tag(ctx, address)}",
            ),
        )


def _closure_notice(
    ctx: Context, case: Case, agency: Agency, refs: list[str], address: str
) -> Notice:
    listed = ", ".join(refs)
    return Notice(
        kind="closure-notice",
        recipient=address,
        subject=f"MARRAC case closed: request {listed} to {agency.name} is complete",
        body=(
            "The MARRAC case your service helped with is now closed. Thank you.\n"
            f"Our request{'s' if len(refs) > 1 else ''} to you: {listed}.\n"
            "Any open request from us is withdrawn and its link no longer works."
            "\nPlease keep your records in line with your own policy.\n"
        ),
        dedupe_key=f"closure:{case.id}:{outbox.recipient_tag(ctx, address)}",
        subject_ref=case.ref,
    )


def _closure_milestone(ctx: Context, case: Case, now: datetime, *, told: bool) -> Milestone:
    """The 24-hour closure-notice milestone: met at once when no agency is to be told."""
    due = milestone_due("closure-notice-24h", now, ctx.policy, ctx.calendar)
    steps = steps_for_milestone("closure-notice-24h", due, ctx.policy)
    return Milestone(
        case_id=case.id,
        kind="closure-notice-24h",
        anchor_at=now,
        due_at=due,
        state="pending",
        met_at=None if told else now,
        next_action_at=(next_action_at(steps, set()) or due) if told else None,
    )
