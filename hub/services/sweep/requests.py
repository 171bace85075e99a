"""The sweep of open information requests: reminders and chases to the agency (each
with a fresh working link), escalations to staff; chasing stops once a request is
answered or withdrawn."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.crypto.tokens import TokenService
from hub.domain.deadlines import Step, current_steps, next_action_at, steps_for_request
from hub.domain.notices import Notice
from hub.domain.requests import is_open
from hub.services import outbox
from hub.services.context import Context
from hub.services.info_requests import link_tokens, link_url, reply_address
from hub.services.info_requests.mails import urgent_mark
from hub.services.recipients import staff
from hub.services.sweep.ledger import Batch, SweepReport, claim, done_steps, load_by_id
from hub.services.sweep.wording import relative, when
from hub.store.models import Agency, Case, InfoRequest


async def sweep_requests(ctx: Context, now: datetime, limit: int, report: SweepReport) -> None:
    """Every due request step, batch by batch, one transaction each."""
    tokens = link_tokens(ctx)
    seen: set[int] = set()
    while True:
        batch = Batch(ctx, now, report)
        async with ctx.sessions() as session, session.begin():
            rows = await claim(session, ctx, InfoRequest, now, limit, seen)
            if not rows:
                return
            seen |= {r.id for r in rows}
            cases = await load_by_id(session, Case, {r.case_id for r in rows})
            agencies = await load_by_id(session, Agency, {r.agency_id for r in rows})
            done = await done_steps(session, [f"request:{r.id}" for r in rows])
            for r in rows:
                report.requests += 1
                if not is_open(r.state) or r.sent_at is None:
                    r.next_action_at = None  # answered or withdrawn: chasing stops
                    continue
                subject = f"request:{r.id}"
                with batch.attempt(subject, r):
                    _chase(batch, tokens, r, cases[r.case_id], agencies[r.agency_id], done[subject])
            await batch.write(session)
        await batch.park_failed()


def _chase(
    batch: Batch,
    tokens: TokenService,
    r: InfoRequest,
    case: Case,
    agency: Agency,
    done: set[str],
) -> None:
    """Queue the request's due steps and move its ``next_action_at`` on."""
    ctx = batch.ctx
    steps = steps_for_request(
        r.due_at, ctx.policy, ctx.calendar, urgency=r.urgency, issued_at=r.sent_at
    )
    open_now = ctx.calendar.is_agency_time(batch.now)
    catchup = current_steps(steps, done, batch.now, agency_open=open_now)
    for stale in catchup.superseded:
        done.add(stale.name)
        batch.supersede(f"request:{r.id}", r.ref, stale)
    for step in catchup.send:  # the agency's chase first, then staff
        done.add(step.name)
        to_agency = "agency" in step.recipients
        recipients = (
            list(agency.emails) if to_agency else staff(ctx, step.recipients, case.coordinator)
        )
        batch.record(f"request:{r.id}", r.ref, step, recipients)
        token = _new_link(batch, tokens, r) if to_agency else None
        for address in recipients:
            batch.mail(_request_notice(batch, r, case, agency, step, address, token))
    r.next_action_at = next_action_at(steps, done)
    if r.next_action_at is not None and r.next_action_at <= batch.now:
        r.next_action_at = ctx.calendar.next_agency_window(batch.now)  # waiting to open


def _new_link(batch: Batch, tokens: TokenService, r: InfoRequest) -> str:
    """A working link to the same request: tokens are only ever stored hashed, so a
    chase carries a fresh one (earlier ones stay valid)."""
    token, token_hash = tokens.new_link_token()
    now = batch.now
    batch.links.append(
        dict(
            request_id=r.id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + timedelta(days=batch.ctx.settings.requests.link_days),
            revoked_at=None,
            code_hash=None,
            code_expires_at=None,
            code_tries=0,
            codes_sent=0,
            locked_at=None,
        )
    )
    return token


def _request_notice(
    batch: Batch,
    r: InfoRequest,
    case: Case,
    agency: Agency,
    step: Step,
    address: str,
    token: str | None,
) -> Notice:
    ctx = batch.ctx
    key = f"step:request:{r.id}:{step.name}:{outbox.recipient_tag(ctx, address)}"
    where = relative(r.due_at, batch.now)  # worded for now: a late chase says how late
    if token is not None:
        word = "reminder" if batch.now < r.due_at else "chase"
        body = (
            f"Dear colleague at {agency.name},\n\n"
            f"{'A reminder' if word == 'reminder' else 'We have not yet had an answer'}: "
            f"MARRAC information request {r.ref} is {where} (deadline "
            f"{when(ctx, r.due_at)}).\n\nOpen it here (a one-time code will be sent to "
            f"this mailbox):\n{link_url(ctx, token)}\n\nOr reply to this email.\n"
            f"Signature fingerprint of the request: {r.signature_digest}\n"
        )
        return Notice(
            kind=f"chase:{step.name}",
            recipient=address,
            subject=f"{urgent_mark(r)}MARRAC request {r.ref}: {word} ({where})",
            body=body,
            dedupe_key=key,
            subject_ref=case.ref,
            reply_to=reply_address(ctx, r.id),
        )
    body = (
        f"Request {r.ref} to {agency.name} (case {case.ref}) is {where}.\n"
        f"Deadline: {when(ctx, r.due_at)}\n\n"
        f"See it with: marrac-hub requests show {r.ref}\n"
    )
    return Notice(
        kind=f"alert:request-{step.name}",
        recipient=address,
        subject=f"[MARRAC] {urgent_mark(r)}{r.ref} to {agency.name} is {where}",
        body=body,
        dedupe_key=key,
        subject_ref=case.ref,
    )
