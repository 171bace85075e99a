"""Agencies' answers: sealed on arrival to the hub's X25519 public key (so the code that
receives them never needs the private key), filed once per dedupe key, and opened only
for a co-ordinator's audited look.

A sealed answer names the box key it was sealed to (:mod:`hub.crypto.boxes`), and every
box key the hub ever had stays in its key directory, so ``keys rotate box`` leaves every
earlier answer (and the files inside it) readable; answers stored before keys were named
open with whichever of the hub's box keys fits. Answers are never re-sealed: the receipt
digest is the hash of the sealed bytes as they arrived."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.crypto.boxes import BoxOpenError, open_sealed, seal_to_hub
from hub.domain import requests as rq
from hub.domain.notices import Notice
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.info_requests.errors import NotFound, RequestError
from hub.services.recipients import staff
from hub.store.models import Answer, Case, InfoRequest


class AnswerUnreadable(RequestError):
    """A sealed answer failed to open: altered in storage, or sealed to another key."""


def seal_answer(ctx: Context, content: dict[str, Any]) -> bytes:
    """Seal to the hub's public box key: whoever stores it cannot read it back."""
    assert ctx.ring is not None
    return seal_to_hub(
        ctx.ring, json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    )


def open_answer(ctx: Context, answer: Answer) -> Any:
    """The content of a stored answer, opened with the box key it names;
    :class:`AnswerUnreadable` if it does not open."""
    assert ctx.ring is not None
    try:
        return json.loads(open_sealed(ctx.ring, answer.sealed))
    except BoxOpenError as exc:
        raise AnswerUnreadable(
            f"answer {answer.id} failed its integrity check: it was altered in storage or "
            f"sealed to another key ({exc}); nothing of it can be shown"
        ) from None


async def store_answer(
    ctx: Context,
    request_id: int,
    *,
    channel: str,
    kind: str,
    content: dict[str, Any],
    dedupe_key: str,
    actor: str,
    event: rq.RequestEvent,
) -> tuple[bool, InfoRequest]:
    """File an answer and move the request on, in one transaction. Returns (stored,
    request): ``stored`` is False when this answer was filed before (same dedupe key)."""
    now = ctx.clock.now()
    sealed = seal_answer(ctx, content)
    try:
        async with ctx.sessions() as session, session.begin():
            r = await session.get(InfoRequest, request_id)
            if r is None:
                raise NotFound(f"no request {request_id}")
            session.add(
                Answer(
                    request_id=r.id,
                    dedupe_key=dedupe_key,
                    channel=channel,
                    kind=kind,
                    received_at=now,
                    sealed=sealed,
                    receipt_digest=hashlib.sha256(sealed).hexdigest(),
                )
            )
            _move_on(r, event, channel, now)
            await session.flush()
            await _notify_coordinator(session, ctx, r, kind, channel)
            await audit.record(
                session,
                at=now,
                actor=actor,
                action=f"request.answer.{channel}",
                object_ref=r.ref or str(r.id),
                detail={"kind": kind},
            )
            return True, r
    except IntegrityError:
        return False, await _request(ctx, request_id)


def _move_on(r: InfoRequest, event: rq.RequestEvent, channel: str, now: datetime) -> None:
    """Close the request on its answer. A late email reply is kept on the request without
    changing its state; any other answer the state does not allow is refused."""
    try:
        r.state = rq.transition(r.state, event).value
        r.answered_at = r.answered_at or now
        r.closed_at = now
        r.next_action_at = None
    except rq.InvalidTransition:
        if channel != "email":
            raise


async def _request(ctx: Context, request_id: int) -> InfoRequest:
    async with ctx.sessions() as session, session.begin():
        r = await session.get(InfoRequest, request_id)
        assert r is not None
        return r


# How the co-ordinator's mail says what the agency did, and how it reached the hub.
_ANSWERED = {
    "answered": "answered",
    "declined": "declined to answer",
    "no-information": "holds no information",
}
_BY = {"link": "through its secure link", "email": "by email"}


async def _notify_coordinator(
    session: AsyncSession, ctx: Context, r: InfoRequest, kind: str, channel: str
) -> None:
    case = await session.get(Case, r.case_id)
    recipients = staff(ctx, ("coordinator",), case.coordinator if case else None)
    did, by = _ANSWERED.get(kind, kind), _BY.get(channel, channel)
    for address in recipients:
        await outbox.enqueue(
            session,
            ctx,
            Notice(
                kind="alert:request-answered",
                recipient=address,
                subject=f"[MARRAC] {r.ref}: the agency {did} ({by})",
                body=f"Request {r.ref} for case {case.ref if case else '-'}: the agency "
                f"{did}, {by}.\n\n"
                f"Read it with: marrac-hub requests show {r.ref}\n",
                dedupe_key=f"answered:{r.id}:{kind}:{channel}:{outbox.recipient_tag(ctx, address)}",
                subject_ref=case.ref if case else None,
            ),
        )
