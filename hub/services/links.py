"""Secure links: what an agency worker holding a request link may see and do.

The link token alone shows only what is on the mail already (reference, agency, deadline,
signature fingerprint) and a button to send a one-time code to the agency's registered
mailbox. The code, once proved, is exchanged for a session; only then are the people and
questions in scope shown. Unknown, expired and revoked tokens are indistinguishable to
the holder: one answer, one amount of work. Every attempt is audited.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub.crypto.signing import canonicalize, key_id, sign_document
from hub.crypto.tokens import TokenService
from hub.domain import requests as rq
from hub.domain.notices import Notice
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.info_requests import (
    LINK_PURPOSE,
    _local,
    link_url,
    request_mails,
    store_answer,
    token_services,
)
from hub.services.recipients import staff
from hub.store.models import Agency, Case, InfoRequest, RequestLink

log = logging.getLogger("hub.links")
AGENCY_ACTOR = "agency-link"


@dataclass(frozen=True)
class Landing:
    """What the landing page may show: nothing about the people."""

    state: str  # ok | unusable | answered | locked | closed
    ref: str | None = None
    agency: str | None = None
    due: str | None = None
    fingerprint: str | None = None
    kid: str | None = None


UNUSABLE = Landing("unusable")


@dataclass(frozen=True)
class Grant:
    """Proof that the browser holds the link *and* the registered mailbox."""

    request_id: int
    link_id: int


async def _audit(
    session: Any, now: datetime, action: str, ref: str, client: str, **detail: Any
) -> None:
    """Every look, code and answer through a link is audited, with the client's address."""
    await audit.record(
        session,
        at=now,
        actor=AGENCY_ACTOR,
        action=action,
        object_ref=ref,
        detail={"client": client, **detail},
    )


def _tokens(ctx: Context) -> TokenService:
    assert ctx.ring is not None
    return TokenService.from_ring(ctx.ring, LINK_PURPOSE)


async def _lookup(
    session: Any, ctx: Context, token: str, *, lock: bool = False
) -> tuple[RequestLink, InfoRequest] | None:
    """The link and request for a token, or None. The same work for every token: a
    keyed hash and one indexed query, whether the token exists or not.

    ``lock`` takes the rows for update (PostgreSQL), so that counters such as wrong-code
    tries cannot be raced past their limit by guesses sent in parallel; SQLite's
    ``BEGIN IMMEDIATE`` already serialises every writer."""
    hashes = []
    for svc in token_services(ctx):  # the same number of hashes for any token
        try:
            hashes.append(svc.hash_token(token))
        except Exception:  # noqa: BLE001 - malformed tokens take the same path as unknown
            hashes.append(
                hashlib.sha256(b"malformed:" + token.encode(errors="replace")).hexdigest()
            )
    query = (
        select(RequestLink, InfoRequest)
        .join(InfoRequest, InfoRequest.id == RequestLink.request_id)
        .where(RequestLink.token_hash.in_(hashes))
    )
    if lock and ctx.dialect == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


def _usable(link: RequestLink, request: InfoRequest, now: datetime) -> str:
    if link.revoked_at is not None or link.expires_at <= now:
        return "unusable"
    if request.state in (
        rq.RequestState.ANSWERED,
        rq.RequestState.ANSWERED_BY_EMAIL,
        rq.RequestState.DECLINED,
        rq.RequestState.NO_INFORMATION,
    ):
        return "answered"
    if not rq.is_open(request.state):
        return "unusable"
    if link.locked_at is not None:
        return "locked"
    return "ok"


async def landing(ctx: Context, token: str, client: str) -> Landing:
    """GET of a link: changes nothing (mail scanners pre-fetch links), audits the look."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        found = await _lookup(session, ctx, token)
        state = _usable(*found, now) if found else "unusable"
        ref = found[1].ref if found else None
        await _audit(
            session,
            now,
            f"link.view.{state}",
            ref if state != "unusable" else "link:unknown",
            client,
        )
        if state == "unusable" or found is None:
            return UNUSABLE
        link, request = found
        agency = await session.get(Agency, request.agency_id)
        return Landing(
            state,
            request.ref,
            agency.name if agency else None,
            _local(request.due_at, ctx),
            request.signature_digest,
            request.signature_kid,
        )


async def send_code(ctx: Context, token: str, client: str) -> bool:
    """POST from the landing page: mail a fresh one-time code to the registered mailbox.
    Returns False when the link cannot take one (the page then says so generically)."""
    now = ctx.clock.now()
    cfg = ctx.settings.requests
    async with ctx.sessions() as session, session.begin():
        found = await _lookup(session, ctx, token, lock=True)
        if not found or _usable(*found, now) != "ok":
            await _audit(
                session,
                now,
                "link.code.refused",
                "link:unknown" if not found else found[1].ref or "",
                client,
            )
            return False
        link, request = found
        if link.codes_sent >= cfg.max_codes_per_link:
            await _audit(session, now, "link.code.limit", request.ref or "", client)
            return False
        code = TokenService.one_time_code()
        link.code_hash = _tokens(ctx).hash_code(code, request.id)
        link.code_expires_at = now + timedelta(minutes=cfg.code_minutes)
        link.codes_sent += 1
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
                        f"Your one-time code is: {code}\n\nIt works for {cfg.code_minutes} minutes"
                        f" on the page for request {request.ref}.\n"
                        "If you did not ask for it, someone has your link: tell the MARRAC team.\n"
                    ),
                    dedupe_key=(
                        f"code:{link.id}:{link.codes_sent}:{outbox.recipient_tag(ctx, address)}"
                    ),
                ),
            )
        await _audit(session, now, "link.code.sent", request.ref or "", client, n=link.codes_sent)
        return True


@dataclass(frozen=True)
class CodeResult:
    grant: Grant | None
    # ok | wrong | expired | locked | unusable
    outcome: str
    tries_left: int = 0


async def verify_code(ctx: Context, token: str, code: str, client: str) -> CodeResult:
    """Check a one-time code: 5 wrong tries lock the link and alert the co-ordinator."""
    now = ctx.clock.now()
    cfg = ctx.settings.requests
    async with ctx.sessions() as session, session.begin():
        found = await _lookup(session, ctx, token, lock=True)
        state = _usable(*found, now) if found else "unusable"
        if found is None or state != "ok":
            await _audit(
                session,
                now,
                "link.code.refused",
                found[1].ref or "" if found else "link:unknown",
                client,
                state=state,
            )
            return CodeResult(None, "locked" if state == "locked" else "unusable")
        link, request = found
        expired = link.code_expires_at is None or link.code_expires_at <= now
        right = (
            not expired
            and link.code_hash is not None
            and any(
                svc.verify_code(code, request.id, link.code_hash) for svc in token_services(ctx)
            )
        )
        if right:
            link.code_hash = None  # one time
            link.code_expires_at = None
            link.code_tries = 0
            if request.state == rq.RequestState.SENT:
                request.state = rq.transition(request.state, rq.RequestEvent.OPEN).value
            request.opened_at = request.opened_at or now
            await _audit(session, now, "link.code.ok", request.ref or "", client)
            return CodeResult(Grant(request.id, link.id), "ok")
        link.code_tries += 1
        left = max(0, cfg.code_tries - link.code_tries)
        outcome = "expired" if expired else "wrong"
        if left == 0:
            link.locked_at = now
            link.code_hash = None
            outcome = "locked"
            await _alert_locked(session, ctx, request)
        await _audit(
            session, now, f"link.code.{outcome}", request.ref or "", client, tries=link.code_tries
        )
        return CodeResult(None, outcome, left)


async def _alert_locked(session: Any, ctx: Context, request: InfoRequest) -> None:
    case = await session.get(Case, request.case_id)
    recipients = staff(ctx, ("coordinator",), case.coordinator if case else None)
    for address in recipients:
        await outbox.enqueue(
            session,
            ctx,
            Notice(
                kind="alert:link-locked",
                recipient=address,
                subject=f"[MARRAC] Link for {request.ref} locked after wrong codes",
                body=(
                    f"The secure link for request {request.ref} was locked after "
                    f"{ctx.settings.requests.code_tries} wrong one-time codes.\n"
                    "Someone may hold a forwarded link. Check with the agency; a new link can be"
                    " sent by withdrawing and re-creating the request.\n"
                ),
                dedupe_key=f"locked:{request.id}:{outbox.recipient_tag(ctx, address)}",
                subject_ref=case.ref if case else None,
            ),
        )


async def _granted(session: Any, grant: Grant, now: datetime) -> tuple[RequestLink, InfoRequest]:
    link = await session.get(RequestLink, grant.link_id)
    request = await session.get(InfoRequest, grant.request_id)
    if link is None or request is None or link.request_id != request.id:
        raise PermissionError("session does not match a request")
    return link, request


async def view(ctx: Context, grant: Grant, client: str) -> dict[str, Any]:
    """The people and questions in scope, for a browser that proved the mailbox."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        link, request = await _granted(session, grant, now)
        state = _usable(link, request, now)
        await _audit(session, now, f"request.view.{state}", request.ref or "", client)
        if state != "ok":
            return {"state": state, "ref": request.ref}
        envelope = json.loads(ctx.sealer.open(request.document_sealed))
        agency = await session.get(Agency, request.agency_id)
        document = envelope["document"]
        return {
            "state": "ok",
            "ref": request.ref,
            "agency": agency.name if agency else "",
            "due": _local(request.due_at, ctx),
            "lawful_basis": document["lawful_basis"],
            "persons": document["persons"],
            "questions": document["questions"],
            "fingerprint": request.signature_digest,
        }


@dataclass(frozen=True)
class Submission:
    """What the form sent, already validated by the web layer against the questions."""

    kind: str  # answered | declined | no-information
    answers: list[dict[str, Any]]
    decline_reason: str = ""
    attachments: tuple[tuple[str, str, bytes], ...] = ()


def _files(
    submission: Submission, extra: Callable[[bytes], dict[str, str]]
) -> list[dict[str, Any]]:
    """The submitted files described one way (name, type, size) plus ``extra``: the
    sealed answer keeps their bytes, the receipt their digests."""
    return [
        {"filename": name, "content_type": ctype, "size": len(data), **extra(data)}
        for name, ctype, data in submission.attachments
    ]


async def submit(
    ctx: Context, grant: Grant, submission: Submission, client: str
) -> tuple[str, dict[str, Any] | None]:
    """Store the answer once (the first submission wins) and return a signed receipt.
    Returns ("stored", receipt), ("already", None) or ("closed", None)."""
    assert ctx.ring is not None
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        link, request = await _granted(session, grant, now)
        state = _usable(link, request, now)
    if state == "answered":
        return "already", None
    if state != "ok":
        return "closed", None
    event = {
        "answered": rq.RequestEvent.ANSWER,
        "declined": rq.RequestEvent.DECLINE,
        "no-information": rq.RequestEvent.NO_INFORMATION,
    }[submission.kind]
    content = {
        "kind": submission.kind,
        "answers": submission.answers,
        "decline_reason": submission.decline_reason,
        "attachments": _files(submission, lambda data: {"data": base64.b64encode(data).decode()}),
        "submitted_at": now.isoformat(),
        "client": client,
    }
    try:
        stored, request = await store_answer(
            ctx,
            grant.request_id,
            channel="link",
            kind=submission.kind,
            content=content,
            dedupe_key=f"link:{grant.request_id}",
            actor=AGENCY_ACTOR,
            event=event,
        )
    except rq.InvalidTransition:
        return "already", None
    if not stored:
        return "already", None
    receipt_doc = {
        "type": "marrac-hub/receipt",
        "version": 1,
        "reference": request.ref,
        "kind": submission.kind,
        "received_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "answer_sha256": hashlib.sha256(
            canonicalize(
                {
                    "answers": submission.answers,
                    "kind": submission.kind,
                    "decline_reason": submission.decline_reason,
                }
            )
        ).hexdigest(),
        # Each file by name, type, size and digest: the agency can prove what it sent.
        "attachments": _files(
            submission, lambda data: {"sha256": hashlib.sha256(data).hexdigest()}
        ),
    }
    kid = key_id(bytes(ctx.ring.signing_key.verify_key))
    receipt = sign_document(receipt_doc, ctx.ring.signing_key, kid)
    async with ctx.sessions() as session, session.begin():
        agency = await session.get(Agency, request.agency_id)
        assert agency is not None
        for address in agency.emails:
            await outbox.enqueue(
                session,
                ctx,
                Notice(
                    kind="receipt",
                    recipient=address,
                    subject=f"Receipt for your answer to MARRAC request {request.ref}",
                    body="Thank you: your answer was received. The signed receipt is attached.\n",
                    dedupe_key=f"receipt:{request.id}:{outbox.recipient_tag(ctx, address)}",
                    attachments=(
                        (
                            f"{request.ref}-receipt.json",
                            "application/json",
                            json.dumps(receipt, indent=2).encode(),
                        ),
                    ),
                ),
            )
    return "stored", receipt


async def renew(ctx: Context, token: str, client: str) -> None:
    """An expired link's holder asks for a fresh one: it goes to the registered mailbox
    only. The answer is the same whatever the token was, so this reveals nothing."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        found = await _lookup(session, ctx, token, lock=True)
        renewable = (
            found is not None
            and found[0].revoked_at is None
            and found[0].expires_at <= now
            and found[0].locked_at is None  # a locked link stays locked: call the team
            and rq.is_open(found[1].state)
        )
        if not renewable or found is None:
            await _audit(session, now, "link.renew.refused", "link:unknown", client)
            return
        old, request = found
        old.revoked_at = now
        new_token, new_hash = _tokens(ctx).new_link_token()
        session.add(
            RequestLink(
                request_id=request.id,
                token_hash=new_hash,
                created_at=now,
                expires_at=now + timedelta(days=ctx.settings.requests.link_days),
            )
        )
        agency = await session.get(Agency, request.agency_id)
        case_ref = await session.scalar(select(Case.ref).where(Case.id == request.case_id))
        envelope = json.loads(ctx.sealer.open(request.document_sealed))
        assert agency is not None
        for notice in request_mails(
            ctx,
            request,
            agency,
            case_ref or "",
            new_token,
            envelope,
            reminder="Here is a fresh link: the earlier one expired.",
        ):
            await outbox.enqueue(session, ctx, notice)
        await _audit(session, now, "link.renew", request.ref or "", client)


__all__ = [
    "CodeResult",
    "Grant",
    "Landing",
    "Submission",
    "landing",
    "link_url",
    "renew",
    "send_code",
    "submit",
    "verify_code",
    "view",
]
