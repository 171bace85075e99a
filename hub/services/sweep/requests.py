"""The sweep of open information requests: reminders and chases to the agency (each
with a fresh working link), escalations to staff; chasing stops once a request is
answered or withdrawn."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.crypto.tokens import TokenService
from hub.domain.deadlines import Step, due_steps, next_action_at, steps_for_request
from hub.domain.notices import Notice
from hub.domain.requests import is_open
from hub.services import outbox
from hub.services.context import Context
from hub.services.info_requests import LINK_PURPOSE, link_url, reply_address
from hub.services.recipients import staff
from hub.services.sweep.ledger import Batch, SweepReport, claim, done_steps, load_by_id
from hub.services.sweep.wording import relative, when
from hub.store.models import Agency, Case, InfoRequest


async def sweep_requests(ctx: Context, now: datetime, limit: int, report: SweepReport) -> None:
    """Every due request step, batch by batch, one transaction each."""
    assert ctx.ring is not None
    tokens = TokenService.from_ring(ctx.ring, LINK_PURPOSE)
    seen: set[int] = set()
    while True:
        async with ctx.sessions() as session, session.begin():
            rows = await claim(session, ctx, InfoRequest, now, limit, seen)
            if not rows:
                return
            seen |= {r.id for r in rows}
            cases = await load_by_id(session, Case, {r.case_id for r in rows})
            agencies = await load_by_id(session, Agency, {r.agency_id for r in rows})
            done = await done_steps(session, [f"request:{r.id}" for r in rows])
            batch = Batch(ctx, now, report)
            for r in rows:
                report.requests += 1
                if not is_open(r.state) or r.sent_at is None:
                    r.next_action_at = None  # answered or withdrawn: chasing stops
                    continue
                done_here = done[f"request:{r.id}"]
                _chase(batch, tokens, r, cases[r.case_id], agencies[r.agency_id], done_here)
            await batch.write(session)


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
    for step in due_steps(steps, done, batch.now):
        done.add(step.name)
        to_agency = "agency" in step.recipients
        recipients = (
            list(agency.emails) if to_agency else staff(ctx, step.recipients, case.coordinator)
        )
        batch.record(f"request:{r.id}", r.ref, step, recipients)
        token = _new_link(batch, tokens, r) if to_agency else None
        for address in recipients:
            batch.mail(_request_notice(ctx, r, case, agency, step, address, token))
    r.next_action_at = next_action_at(steps, done)


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
            f"information request {r.ref} is {relative(step)} (deadline "
            f"{when(ctx, r.due_at)}).\n\nOpen it here (a one-time code will be sent to "
            f"this mailbox):\n{link_url(ctx, token)}\n\nOr reply to this email.\n"
            f"Signature fingerprint of the request: {r.signature_digest}\n"
        )
        return Notice(
            kind=f"chase:{step.name}",
            recipient=address,
            subject=f"MARRAC request {r.ref}: {word} ({relative(step)})",
            body=body,
            dedupe_key=key,
            subject_ref=case.ref,
            reply_to=reply_address(ctx, r.id),
        )
    body = (
        f"Request {r.ref} to {agency.name} (case {case.ref}) is {relative(step)}.\n"
        f"Deadline: {when(ctx, r.due_at)}\n\n"
        f"See it with: marrac-hub requests show {r.ref}\n"
    )
    return Notice(
        kind=f"alert:request-{step.name}",
        recipient=address,
        subject=f"[MARRAC] {r.ref} to {agency.name} is {relative(step)}",
        body=body,
        dedupe_key=key,
        subject_ref=case.ref,
    )
