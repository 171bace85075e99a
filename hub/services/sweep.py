"""The sweep: every warning, chase and escalation that is due, sent once.

The durable truth is in the database: each milestone and open request has a
``next_action_at`` (indexed). The sweep claims the rows whose time has come (on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several hubs share the work), asks the
domain which steps are due at ``now``, writes one ledger row per (subject, step) and the
outbox rows for its mail in the same transaction, and moves ``next_action_at`` on.
A restart, a second hub or a clock jump can neither double a step (the ledger is unique)
nor skip one (``due_steps`` returns every step whose time has passed and is not done).
Its cost follows the number of due rows, not the number of open ones.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from hub.crypto.tokens import TokenService
from hub.domain.deadlines import (
    Step,
    due_steps,
    milestone_state,
    next_action_at,
    request_due,
    steps_for_milestone,
    steps_for_request,
)
from hub.domain.notices import Notice
from hub.domain.requests import is_open
from hub.services import outbox
from hub.services.context import Context
from hub.services.info_requests import LINK_PURPOSE, link_url, reply_address
from hub.services.recipients import staff
from hub.services.timefmt import iso_z
from hub.store.models import (
    Agency,
    AlertStep,
    Case,
    HubState,
    InfoRequest,
    Milestone,
    OutboxMessage,
    RequestLink,
)

log = logging.getLogger("hub.sweep")

MILESTONE_WORDS = {
    "plan-48h": "the plan agreed with the MEs and resources aligned (48 hours)",
    "review-2w": "the progress check and risk re-review (2 weeks)",
    "closure-notice-24h": "every agency told of the closure (24 hours)",
}


@dataclass
class SweepReport:
    milestones: int = 0
    requests: int = 0
    steps: int = 0
    mails: int = 0
    by_step: dict[str, int] = field(default_factory=dict)


def _when(ctx: Context, at: datetime) -> str:
    return at.astimezone(ZoneInfo(ctx.settings.hub.timezone)).strftime("%a %d %b %Y %H:%M")


def _relative(step: Step) -> str:
    hours = step.offset_hours
    if hours < 0:
        return f"due in {-hours} hours"
    if hours == 0:
        return "due now"
    return f"{hours} hours overdue"


def _ledger_row(
    subject: str, ref: str | None, step: Step, recipients: list[str], now: datetime
) -> dict[str, Any]:
    return dict(
        subject=subject,
        subject_ref=ref,
        step=step.name,
        kind=step.kind,
        due_at=step.due,
        done_at=now,
        outcome="sent",
        recipients=recipients,
    )


async def _write(session: Any, ledger: list[dict[str, Any]], mails: list[dict[str, Any]]) -> None:
    """One batch's ledger rows and mail, inserted together. The rows a sweep works on are
    its own for the transaction (SKIP LOCKED claims, or SQLite's single writer), so a
    unique-key clash here means another sweeper already did the work: the transaction
    rolls back whole and the next sweep recomputes from what was committed."""
    if ledger:
        await session.execute(insert(AlertStep.__table__), ledger)
    await outbox.insert_rows(session, mails)


async def _done(session: Any, subjects: list[str]) -> dict[str, set[str]]:
    done: dict[str, set[str]] = defaultdict(set)
    if subjects:
        rows = await session.execute(
            select(AlertStep.subject, AlertStep.step).where(AlertStep.subject.in_(subjects))
        )
        for subject, step in rows.all():
            done[subject].add(step)
    return done


async def _by_id(session: Any, model: Any, ids: set[int]) -> dict[int, Any]:
    return {
        row.id: row for row in (await session.scalars(select(model).where(model.id.in_(ids)))).all()
    }


async def _claim(
    session: Any, ctx: Context, model: Any, now: datetime, limit: int, skip: set[int]
) -> list[Any]:
    query = (
        select(model)
        .where(model.next_action_at <= now)
        .order_by(model.next_action_at, model.id)
        .limit(limit)
    )
    if skip:
        query = query.where(model.id.notin_(skip))
    if ctx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def sweep(ctx: Context, now: datetime | None = None, *, batch: int = 500) -> SweepReport:
    """One sweep as of ``now`` (default: the clock's now)."""
    now = now or ctx.clock.now()
    report = SweepReport()
    for phase in (
        lambda: recompute_if_holidays_changed(ctx, now),
        lambda: _sweep_milestones(ctx, now, batch, report),
        lambda: _sweep_requests(ctx, now, batch, report),
        lambda: _check_closures(ctx, now),
    ):
        try:
            await phase()
        except IntegrityError:
            # Another sweeper committed the same work first; what it did is in the
            # database, and the next sweep starts from there. Nothing is lost.
            log.info("event=sweep.raced reason=another sweeper got there first")
    if report.steps:
        log.info(
            "event=sweep.done milestones=%d requests=%d steps=%d mails=%d",
            report.milestones,
            report.requests,
            report.steps,
            report.mails,
        )
    return report


async def _sweep_milestones(ctx: Context, now: datetime, batch: int, report: SweepReport) -> None:
    seen: set[int] = set()
    while True:
        async with ctx.sessions() as session, session.begin():
            rows = await _claim(session, ctx, Milestone, now, batch, seen)
            if not rows:
                return
            seen |= {m.id for m in rows}
            cases = await _by_id(session, Case, {m.case_id for m in rows})
            done = await _done(session, [f"milestone:{m.id}" for m in rows])
            ledger: list[dict[str, Any]] = []
            mails: list[dict[str, Any]] = []
            for m in rows:
                report.milestones += 1
                case = cases[m.case_id]
                subject = f"milestone:{m.id}"
                steps = steps_for_milestone(m.kind, m.due_at, ctx.policy)
                closed = case.closed_at is not None and m.kind != "closure-notice-24h"
                if m.met_at is not None or closed:
                    m.next_action_at = None
                    continue
                for step in due_steps(steps, done[subject], now):
                    recipients = staff(ctx, step.recipients, case.coordinator)
                    done[subject].add(step.name)
                    ledger.append(_ledger_row(subject, case.ref, step, recipients, now))
                    report.steps += 1
                    report.by_step[step.name] = report.by_step.get(step.name, 0) + 1
                    for address in recipients:
                        mails.append(
                            outbox.outbox_row(ctx, _milestone_notice(ctx, case, m, step, address))
                        )
                        report.mails += 1
                m.state = milestone_state(m.due_at, m.met_at, now)
                m.next_action_at = next_action_at(steps, done[subject])
            await _write(session, ledger, mails)


def _milestone_notice(ctx: Context, case: Case, m: Milestone, step: Step, address: str) -> Notice:
    state = (
        "MISSED"
        if step.offset_hours > 0
        else ("due now" if step.offset_hours == 0 else "coming up")
    )
    body = (
        f"Case {case.ref}: milestone {state}.\n\n"
        f"Milestone: {MILESTONE_WORDS.get(m.kind, m.kind)}\n"
        f"Due: {_when(ctx, m.due_at)} ({_relative(step)})\n"
        f"Co-ordinator: {case.coordinator or 'not allocated yet'}\n\n"
    )
    if m.kind == "plan-48h":
        body += f"When the plan is agreed: marrac-hub cases plan {case.ref} --agreed\n"
    elif m.kind == "review-2w":
        body += f"When reviewed: marrac-hub cases review {case.ref} --risk LEVEL\n"
    return Notice(
        kind=f"alert:{m.kind}",
        recipient=address,
        subject=f"[MARRAC] {case.ref}: {m.kind} {_relative(step)}",
        body=body,
        dedupe_key=f"step:milestone:{m.id}:{step.name}:{outbox.recipient_tag(ctx, address)}",
        subject_ref=case.ref,
    )


async def _sweep_requests(ctx: Context, now: datetime, batch: int, report: SweepReport) -> None:
    assert ctx.ring is not None
    tokens = TokenService.from_ring(ctx.ring, LINK_PURPOSE)
    seen: set[int] = set()
    while True:
        async with ctx.sessions() as session, session.begin():
            rows = await _claim(session, ctx, InfoRequest, now, batch, seen)
            if not rows:
                return
            seen |= {r.id for r in rows}
            cases = await _by_id(session, Case, {r.case_id for r in rows})
            agencies = await _by_id(session, Agency, {r.agency_id for r in rows})
            done = await _done(session, [f"request:{r.id}" for r in rows])
            ledger = []
            mails = []
            links: list[dict[str, Any]] = []
            for r in rows:
                report.requests += 1
                if not is_open(r.state) or r.sent_at is None:
                    r.next_action_at = None  # answered or withdrawn: chasing stops
                    continue
                subject = f"request:{r.id}"
                case, agency = cases[r.case_id], agencies[r.agency_id]
                steps = steps_for_request(
                    r.due_at, ctx.policy, ctx.calendar, urgency=r.urgency, issued_at=r.sent_at
                )
                for step in due_steps(steps, done[subject], now):
                    done[subject].add(step.name)
                    to_agency = "agency" in step.recipients
                    recipients = (
                        list(agency.emails)
                        if to_agency
                        else staff(ctx, step.recipients, case.coordinator)
                    )
                    ledger.append(_ledger_row(subject, r.ref, step, recipients, now))
                    report.steps += 1
                    report.by_step[step.name] = report.by_step.get(step.name, 0) + 1
                    token = None
                    if to_agency:
                        # A working link to the same request: tokens are only ever stored
                        # hashed, so a chase carries a fresh one (earlier ones stay valid).
                        token, token_hash = tokens.new_link_token()
                        links.append(
                            dict(
                                request_id=r.id,
                                token_hash=token_hash,
                                created_at=now,
                                expires_at=now + timedelta(days=ctx.settings.requests.link_days),
                                revoked_at=None,
                                code_hash=None,
                                code_expires_at=None,
                                code_tries=0,
                                codes_sent=0,
                                locked_at=None,
                            )
                        )
                    for address in recipients:
                        mails.append(
                            outbox.outbox_row(
                                ctx, _request_notice(ctx, r, case, agency, step, address, token)
                            )
                        )
                        report.mails += 1
                r.next_action_at = next_action_at(steps, done[subject])
            if links:
                await session.execute(insert(RequestLink.__table__), links)
            await _write(session, ledger, mails)


def _request_notice(
    ctx: Context,
    r: InfoRequest,
    case: Case,
    agency: Agency,
    step: Step,
    address: str,
    token: str | None,
) -> Notice:
    key = f"step:request:{r.id}:{step.name}:{outbox.recipient_tag(ctx, address)}"
    if token is not None:
        word = "reminder" if step.offset_hours < 0 else "chase"
        body = (
            f"Dear colleague at {agency.name},\n\n"
            f"{'A reminder' if word == 'reminder' else 'We have not yet had'}: MARRAC "
            f"information request {r.ref} is {_relative(step)} (deadline "
            f"{_when(ctx, r.due_at)}).\n\nOpen it here (a one-time code will be sent to "
            f"this mailbox):\n{link_url(ctx, token)}\n\nOr reply to this email.\n"
            f"Signature fingerprint of the request: {r.signature_digest}\n"
        )
        return Notice(
            kind=f"chase:{step.name}",
            recipient=address,
            subject=f"MARRAC request {r.ref}: {word} ({_relative(step)})",
            body=body,
            dedupe_key=key,
            subject_ref=case.ref,
            reply_to=reply_address(ctx, r.id),
        )
    body = (
        f"Request {r.ref} to {agency.name} (case {case.ref}) is {_relative(step)}.\n"
        f"Deadline: {_when(ctx, r.due_at)}\n\n"
        f"See it with: marrac-hub requests show {r.ref}\n"
    )
    return Notice(
        kind=f"alert:request-{step.name}",
        recipient=address,
        subject=f"[MARRAC] {r.ref} to {agency.name} is {_relative(step)}",
        body=body,
        dedupe_key=key,
        subject_ref=case.ref,
    )


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
        moved = 0
        if state is not None:
            rows = (
                await session.scalars(
                    select(InfoRequest).where(
                        InfoRequest.due_rule == "policy", InfoRequest.state.in_(("sent", "opened"))
                    )
                )
            ).all()
            done = await _done(session, [f"request:{r.id}" for r in rows])
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
            log.warning("event=sweep.holidays_changed deadlines_moved=%d", moved)
            state.value, state.updated_at = fingerprint, now
        else:
            # Two hubs starting together may both get here: the first insert wins.
            dialect_insert = pg_insert if ctx.dialect == "postgresql" else sqlite_insert
            await session.execute(
                dialect_insert(HubState.__table__)
                .values(key=CALENDAR_KEY, value=fingerprint, updated_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
            )
        return moved


async def _check_closures(ctx: Context, now: datetime) -> None:
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


async def digest(ctx: Context, now: datetime | None = None) -> int:
    """The 08:00 digest: for each co-ordinator (and the team leaders, for unallocated
    cases), what is due today and what is overdue. Once per recipient per day."""
    now = now or ctx.clock.now()
    tz = ZoneInfo(ctx.settings.hub.timezone)
    today = now.astimezone(tz).date()
    end_of_day = datetime.combine(today + timedelta(days=1), datetime.min.time(), tz)
    lines: dict[str, list[str]] = defaultdict(list)
    async with ctx.sessions() as session, session.begin():
        rows = (
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
        for m, ref, coordinator in rows:
            state = "OVERDUE" if m.due_at < now else "due today"
            for who in staff(ctx, ("coordinator",), coordinator):
                lines[who].append(f"- {ref}: {m.kind} {state} ({_when(ctx, m.due_at)})")
        reqs = (
            await session.execute(
                select(InfoRequest, Case.ref, Case.coordinator)
                .join(Case, Case.id == InfoRequest.case_id)
                .where(InfoRequest.state.in_(("sent", "opened")), InfoRequest.due_at < end_of_day)
            )
        ).all()
        for r, ref, coordinator in reqs:
            state = "OVERDUE" if r.due_at < now else "due today"
            for who in staff(ctx, ("coordinator",), coordinator):
                lines[who].append(f"- {ref}: request {r.ref} {state} ({_when(ctx, r.due_at)})")
        for who, items in lines.items():
            await outbox.enqueue(
                session,
                ctx,
                Notice(
                    kind="digest",
                    recipient=who,
                    subject=f"[MARRAC] Today ({today:%a %d %b}): {len(items)} due or overdue",
                    body="Due today or overdue:\n\n" + "\n".join(sorted(items)) + "\n",
                    dedupe_key=f"digest:{today.isoformat()}:{outbox.recipient_tag(ctx, who)}",
                ),
            )
    return len(lines)


async def alerts_sent(ctx: Context) -> list[dict[str, Any]]:
    """Every step the sweep sent, one entry per recipient, with its delivery time."""
    async with ctx.sessions() as session, session.begin():
        steps = (
            await session.scalars(
                select(AlertStep).where(AlertStep.outcome == "sent").order_by(AlertStep.id)
            )
        ).all()
        mails = (
            await session.execute(
                select(
                    OutboxMessage.dedupe_key,
                    OutboxMessage.sent_at,
                    OutboxMessage.state,
                    OutboxMessage.recipient_sealed,
                ).where(OutboxMessage.dedupe_key.like("step:%"))
            )
        ).all()
    by_prefix: dict[str, list[Any]] = defaultdict(list)
    for key, sent_at, state, recipient in mails:
        by_prefix[key.rsplit(":", 1)[0]].append((sent_at, state, recipient))
    out = []
    for s in steps:
        for sent_at, state, recipient in by_prefix.get(f"step:{s.subject}:{s.step}", []):
            out.append(
                {
                    "kind": s.kind,
                    "subject": s.subject,
                    "subject_ref": s.subject_ref,
                    "step": s.step,
                    "recipient": ctx.sealer.open(recipient).decode(),
                    "due_at": iso_z(s.due_at),
                    "queued_at": iso_z(s.done_at),
                    "sent_at": iso_z(sent_at),
                    "delivery": state,
                }
            )
    return out


async def open_counts(ctx: Context) -> dict[str, int]:
    async with ctx.sessions() as session, session.begin():
        m = await session.scalar(
            select(func.count()).select_from(Milestone).where(Milestone.next_action_at.is_not(None))
        )
        r = await session.scalar(
            select(func.count())
            .select_from(InfoRequest)
            .where(or_(InfoRequest.state == "sent", InfoRequest.state == "opened"))
        )
    return {"milestones": int(m or 0), "requests": int(r or 0)}
