"""An agency's answer through its link: stored once (the first submission wins), sealed
on arrival, and acknowledged with a signed receipt mailed to the agency."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.crypto.signing import canonicalize
from hub.domain import requests as rq
from hub.domain.notices import Notice
from hub.services import outbox
from hub.services.context import Context
from hub.services.info_requests.answers import store_answer
from hub.services.info_requests.signatures import sign
from hub.services.links.access import AGENCY_ACTOR, Grant, granted, session_state_of
from hub.store.models import Agency, InfoRequest

# The request event each kind of answer is.
EVENTS = {
    "answered": rq.RequestEvent.ANSWER,
    "declined": rq.RequestEvent.DECLINE,
    "no-information": rq.RequestEvent.NO_INFORMATION,
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
        link, request = await granted(session, grant)
        state = session_state_of(link, request, now)
    if state == "answered":
        return "already", None
    if state != "ok":
        return "closed", None
    try:
        stored, request = await store_answer(
            ctx,
            grant.request_id,
            channel="link",
            kind=submission.kind,
            content=_content(submission, now, client),
            dedupe_key=f"link:{grant.request_id}",
            actor=AGENCY_ACTOR,
            event=EVENTS[submission.kind],
        )
    except rq.InvalidTransition:
        return "already", None
    if not stored:
        return "already", None
    receipt = sign(ctx, _receipt_document(request, submission, now))
    await _mail_receipt(ctx, request, receipt)
    return "stored", receipt


def _content(submission: Submission, now: datetime, client: str) -> dict[str, Any]:
    """The answer as it is sealed: everything the agency sent, files included."""
    return {
        "kind": submission.kind,
        "answers": submission.answers,
        "decline_reason": submission.decline_reason,
        "attachments": _files(submission, lambda data: {"data": base64.b64encode(data).decode()}),
        "submitted_at": now.isoformat(),
        "client": client,
    }


def _receipt_document(
    request: InfoRequest, submission: Submission, now: datetime
) -> dict[str, Any]:
    """What the hub signs to acknowledge an answer: digests, never the answer itself."""
    answered = {
        "answers": submission.answers,
        "kind": submission.kind,
        "decline_reason": submission.decline_reason,
    }
    return {
        "type": "marrac-hub/receipt",
        "version": 1,
        "reference": request.ref,
        "kind": submission.kind,
        "received_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "answer_sha256": hashlib.sha256(canonicalize(answered)).hexdigest(),
        # Each file by name, type, size and digest: the agency can prove what it sent.
        "attachments": _files(
            submission, lambda data: {"sha256": hashlib.sha256(data).hexdigest()}
        ),
    }


async def _mail_receipt(ctx: Context, request: InfoRequest, receipt: dict[str, Any]) -> None:
    """The signed receipt, to each of the agency's registered mailboxes."""
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
