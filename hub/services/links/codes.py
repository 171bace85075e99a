"""One-time codes: proof that a link's holder also holds the agency's registered mailbox.
A code is mailed there on request, works once and for a few minutes, and too many wrong
tries at a pending code lock the link and alert the co-ordinator (a forwarded link in the
wrong hands). So does asking for more codes than a link may have. Each alert goes once
per link; ``marrac-hub requests reissue`` sends a fresh link and unlocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from hub.crypto.tokens import TokenService
from hub.domain import requests as rq
from hub.domain.notices import Notice
from hub.services import outbox
from hub.services.context import Context
from hub.services.info_requests.capabilities import link_tokens, token_services
from hub.services.links.access import Grant, audit_link, count_unusable, find_link, state_of
from hub.services.recipients import staff
from hub.store.models import Agency, Case, InfoRequest, RequestLink


@dataclass(frozen=True)
class CodeResult:
    """What a code earned: a grant, or why not (and how many tries are left)."""

    grant: Grant | None
    # ok | wrong | expired | locked | unusable
    outcome: str
    tries_left: int = 0


async def send_code(ctx: Context, token: str, client: str) -> bool:
    """POST from the landing page: mail a fresh one-time code to the registered mailbox.
    Returns False when the link cannot take one (the page then says so generically)."""
    now = ctx.clock.now()
    cfg = ctx.settings.requests
    async with ctx.sessions() as session, session.begin():
        found = await find_link(session, ctx, token, lock=True)
        if not found or state_of(*found, now) == "unusable":
            count_unusable(ctx, "link.code.refused", now)
            return False
        link, request = found
        if state_of(link, request, now) != "ok":
            await audit_link(session, now, "link.code.refused", request.ref or "", client)
            return False
        if link.codes_sent >= cfg.max_codes_per_link:
            await _alert(session, ctx, link, request, "codes-exhausted")
            await audit_link(session, now, "link.code.limit", request.ref or "", client)
            return False
        code = TokenService.one_time_code()
        link.code_hash = link_tokens(ctx).hash_code(code, request.id)
        link.code_expires_at = now + timedelta(minutes=cfg.code_minutes)
        link.codes_sent += 1
        await _mail_code(session, ctx, link, request, code)
        await audit_link(
            session, now, "link.code.sent", request.ref or "", client, n=link.codes_sent
        )
        return True


async def _mail_code(
    session: AsyncSession, ctx: Context, link: RequestLink, request: InfoRequest, code: str
) -> None:
    minutes = ctx.settings.requests.code_minutes
    agency = await session.get(Agency, request.agency_id)
    assert agency is not None
    for address in agency.emails:
        await outbox.enqueue(
            session,
            ctx,
            Notice(
                kind="link-code",
                recipient=address,
                subject=f"Your MARRAC one-time code for {request.ref}",
                body=(
                    f"Your one-time code is: {code}\n\nIt works for {minutes} minutes"
                    f" on the page for request {request.ref}.\n"
                    "If you did not ask for it, someone has your link: tell the MARRAC team.\n"
                ),
                dedupe_key=(
                    f"code:{link.id}:{link.codes_sent}:{outbox.recipient_tag(ctx, address)}"
                ),
            ),
        )


async def verify_code(ctx: Context, token: str, code: str, client: str) -> CodeResult:
    """Check a one-time code. Only a pending code can be tried: 5 wrong tries at it lock
    the link (for more codes; a session already signed in lives on) and alert the
    co-ordinator. With no code pending (none sent, used, expired) nothing is tried and
    no try is spent."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        found = await find_link(session, ctx, token, lock=True)
        state = state_of(*found, now) if found else "unusable"
        if found is None or state == "unusable":
            count_unusable(ctx, "link.code.refused", now)
            return CodeResult(None, "unusable")
        link, request = found
        if state != "ok":
            await audit_link(
                session, now, "link.code.refused", request.ref or "", client, state=state
            )
            return CodeResult(None, "locked" if state == "locked" else "unusable")
        pending = rq.code_pending(
            has_code=link.code_hash is not None, code_expires_at=link.code_expires_at, now=now
        )
        if not pending:
            await audit_link(session, now, "link.code.stale", request.ref or "", client)
            return CodeResult(None, "expired", _left(ctx, link))
        if _matches(ctx, code, link, request):
            _open(link, request, now)
            await audit_link(session, now, "link.code.ok", request.ref or "", client)
            return CodeResult(Grant(request.id, link.id), "ok")
        return await _refuse(session, ctx, link, request, now, client)


def _left(ctx: Context, link: RequestLink) -> int:
    return max(0, ctx.settings.requests.code_tries - link.code_tries)


def _matches(ctx: Context, code: str, link: RequestLink, request: InfoRequest) -> bool:
    """Is ``code`` the one mailed for this link, under any token key still held?"""
    stored = link.code_hash
    return stored is not None and any(
        svc.verify_code(code, request.id, stored) for svc in token_services(ctx)
    )


def _open(link: RequestLink, request: InfoRequest, now: datetime) -> None:
    """A right code: spend it, and mark the request opened (once)."""
    link.code_hash = None  # one time
    link.code_expires_at = None
    link.code_tries = 0
    if request.state == rq.RequestState.SENT:
        request.state = rq.transition(request.state, rq.RequestEvent.OPEN).value
    request.opened_at = request.opened_at or now


async def _refuse(
    session: AsyncSession,
    ctx: Context,
    link: RequestLink,
    request: InfoRequest,
    now: datetime,
    client: str,
) -> CodeResult:
    """A wrong code while one is pending: count the try, and lock the link on the last."""
    link.code_tries += 1
    left = _left(ctx, link)
    outcome = "wrong"
    if left == 0:
        link.locked_at = now
        link.code_hash = None
        outcome = "locked"
        await _alert(session, ctx, link, request, "locked")
    await audit_link(
        session, now, f"link.code.{outcome}", request.ref or "", client, tries=link.code_tries
    )
    return CodeResult(None, outcome, left)


def _alert_text(ctx: Context, request: InfoRequest, why: str) -> tuple[str, str]:
    """Subject and body of an alert about a link: references only, never who."""
    fix = (
        f"Check with the agency by phone; `marrac-hub requests reissue {request.ref}` sends"
        " it a fresh link (same request, same reference) and unlocks it.\n"
    )
    if why == "locked":
        return (
            f"[MARRAC] Link for {request.ref} locked after wrong codes",
            f"The secure link for request {request.ref} was locked after "
            f"{ctx.settings.requests.code_tries} wrong one-time codes.\n"
            "Someone may hold a forwarded link; a browser signed in already keeps working.\n"
            f"{fix}",
        )
    return (
        f"[MARRAC] Link for {request.ref} has used all its one-time codes",
        f"The secure link for request {request.ref} has been sent all "
        f"{ctx.settings.requests.max_codes_per_link} one-time codes it may have, and another"
        " was asked for.\nThe agency may not be getting the codes, or someone holds a"
        " forwarded link.\n" + fix,
    )


async def _alert(
    session: AsyncSession, ctx: Context, link: RequestLink, request: InfoRequest, why: str
) -> None:
    """Tell the co-ordinator, once per link (the dedupe key), that a link is locked
    (``why="locked"``) or has used all its codes (``"codes-exhausted"``)."""
    case = await session.get(Case, request.case_id)
    subject, body = _alert_text(ctx, request, why)
    for address in staff(ctx, ("coordinator",), case.coordinator if case else None):
        await outbox.enqueue(
            session,
            ctx,
            Notice(
                kind=f"alert:link-{why}",
                recipient=address,
                subject=subject,
                body=body,
                dedupe_key=f"{why}:{link.id}:{outbox.recipient_tag(ctx, address)}",
                subject_ref=case.ref if case else None,
            ),
        )
