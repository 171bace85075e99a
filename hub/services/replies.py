"""Agencies' email replies: filed sealed on the request their plus address names.

Each request mail carries ``Reply-To: replies+<request id>.<mac>@domain``; the MAC is
keyed, so an address cannot be forged or guessed. But an address proves only that its
holder saw the request mail, so a reply is filed on that request
(``answered-by-email``) only when it also comes from one of the agency's registered
mailboxes, authenticated when a trusted server is configured
(:func:`hub.domain.senders.judge_reply_sender`). Anything else is kept as an unmatched
reply with its reason and an alert to the team leaders, never dropped. Machine mail
(out-of-office replies to the request) is recorded and not filed as an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain import requests as rq
from hub.domain.intake import Outcome
from hub.domain.notices import Notice
from hub.domain.senders import SenderVerdict, judge_reply_sender
from hub.mail import (
    ParsedMail,
    content_fingerprint,
    message_id_hash,
    recipient_addresses,
)
from hub.ports import InboundItem
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.info_requests import store_answer, token_services
from hub.services.intake import IngestResult
from hub.services.intake_reading import read_replies
from hub.services.timefmt import iso_z
from hub.store.db import advisory_xact_lock
from hub.store.models import Agency, InboundMessage, InfoRequest, UnmatchedReply

log = logging.getLogger("hub.replies")
ACTOR = "system:replies"


def match_request(ctx: Context, raw: bytes) -> int | None:
    """The request id a reply is addressed to, if its plus address verifies."""
    return _match(ctx, recipient_addresses(raw))


def _match(ctx: Context, recipients: Iterable[str]) -> int | None:
    """The request id the first verifying plus address among ``recipients`` names."""
    local, _, domain = ctx.settings.replies.address.partition("@")
    for address in recipients:
        for svc in token_services(ctx):
            request_id = svc.parse_reply_address(address, local, domain)
            if request_id is not None:
                return request_id
    return None


async def file_reply(ctx: Context, item: InboundItem) -> IngestResult:
    """Record one message from the replies mailbox and file it (one transaction for the
    record, then the answer's own transaction: both idempotent on the source key)."""
    # Read in the reading workers, within the budget, like the referral mailbox.
    [reading] = await read_replies(ctx, [item.raw])
    parsed = reading.parsed
    now = ctx.clock.now()
    request_id = _match(ctx, reading.recipients)
    content_hash = content_fingerprint(item.raw)
    async with ctx.sessions() as session, session.begin():
        await advisory_xact_lock(session, "intake")
        seen = await session.scalar(
            select(InboundMessage).where(InboundMessage.source_key == item.source_key)
        )
        if seen is not None and seen.outcome != "reply-pending":
            return IngestResult(seen.id, Outcome.CASE, seen.reason, None, already=True)
        verdict = await _judge_sender(session, ctx, parsed, request_id)
        if verdict is None:
            request_id = None
        outcome, reason = _classify(parsed, request_id, verdict)
        if seen is None:
            seen = await _record(session, ctx, item, parsed, (outcome, reason), content_hash, now)
        if outcome == "unmatched-reply":
            await _hold_unmatched(session, ctx, seen.id, reason, now)
        await audit.record(
            session, at=now, actor=ACTOR, action=f"reply.{outcome}", object_ref=f"inbound:{seen.id}"
        )
        inbound_id = seen.id
    if outcome == "reply":
        assert request_id is not None
        content = {**_answer(parsed, reading.text), "raw_sha256": content_hash}
        await _file_answer(ctx, request_id, inbound_id, content, ACTOR)
        await _mark_filed(ctx, inbound_id)
    log.info("event=replies.%s inbound=%s", outcome, inbound_id)
    return IngestResult(
        inbound_id, Outcome.CASE if outcome == "reply" else Outcome.MACHINE, reason, None
    )


async def _judge_sender(
    session: AsyncSession, ctx: Context, parsed: ParsedMail, request_id: int | None
) -> SenderVerdict | None:
    """May the sender answer the request the address names? ``None``: no such request."""
    if request_id is None:
        return None
    request = await session.get(InfoRequest, request_id)
    if request is None:
        return None
    agency = await session.get(Agency, request.agency_id)
    intake = ctx.settings.intake
    return judge_reply_sender(
        parsed.sender,
        agency.emails if agency is not None else (),
        parsed.auth_results,
        intake.trusted_authserv_id,
    )


def _classify(
    parsed: ParsedMail, request_id: int | None, verdict: SenderVerdict | None
) -> tuple[str, str]:
    """(outcome, reason): machine mail is never an answer; a reply to no request that
    verifies, or from a sender who may not answer it, waits to be filed by hand."""
    if parsed.machine_reason:
        return "machine", parsed.machine_reason
    if request_id is None or verdict is None:
        return "unmatched-reply", "reply names no request that verifies"
    if not verdict.allowed:
        return "unmatched-reply", f"{verdict.reason} (addressed to request #{request_id})"
    return "reply", f"reply to request #{request_id}"


async def _record(
    session: AsyncSession,
    ctx: Context,
    item: InboundItem,
    parsed: ParsedMail,
    judged: tuple[str, str],
    content_hash: str,
    now: datetime,
) -> InboundMessage:
    """The sealed record of the message. A reply stays "reply-pending" until its answer
    is filed, so a crash in between files it on the next delivery."""
    outcome, reason = judged
    last = await session.scalar(
        select(InboundMessage.id).order_by(InboundMessage.id.desc()).limit(1)
    )
    meta = {"message_id": parsed.message_id, "sender": parsed.sender, "subject": parsed.subject}
    record = InboundMessage(
        id=(last or 0) + 1,
        source_key=item.source_key,
        mailbox=item.mailbox,
        uidvalidity=item.uidvalidity,
        uid=item.uid,
        message_id_hash=message_id_hash(parsed.message_id),
        content_hash=content_hash,
        dedupe_key=None,
        size=len(item.raw),
        raw_sealed=ctx.sealer.seal(item.raw),
        meta_sealed=ctx.sealer.seal_json(meta),
        received_at=now,
        outcome="reply-pending" if outcome == "reply" else outcome,
        reason=reason,
    )
    session.add(record)
    await session.flush()
    return record


async def _hold_unmatched(
    session: AsyncSession, ctx: Context, inbound_id: int, reason: str, now: datetime
) -> None:
    """Keep the reply for filing by hand, and tell each team leader it is waiting."""
    session.add(UnmatchedReply(inbound_id=inbound_id, reason=reason, received_at=now))
    for leader in ctx.settings.alerts.team_leaders:
        await outbox.enqueue(
            session,
            ctx,
            Notice(
                kind="alert:unmatched-reply",
                recipient=leader,
                subject="[MARRAC] A reply could not be matched to a request",
                body=(
                    f"Inbound message {inbound_id} in the replies mailbox was not filed"
                    f" as an answer: {reason}. It is kept for filing by hand"
                    " (marrac-hub replies list).\n"
                ),
                dedupe_key=f"unmatched:{inbound_id}:{outbox.recipient_tag(ctx, leader)}",
            ),
        )


def _answer(parsed: ParsedMail, text: str) -> dict[str, Any]:
    """What an emailed answer holds: who sent it, its subject and its readable text."""
    return {
        "kind": "email",
        "from": parsed.sender,
        "subject": parsed.subject,
        "text": text,
    }


async def _file_answer(
    ctx: Context, request_id: int, inbound_id: int, content: dict[str, Any], actor: str
) -> None:
    """Store an emailed answer on its request (idempotent on the inbound message)."""
    await store_answer(
        ctx,
        request_id,
        channel="email",
        kind="email",
        content=content,
        dedupe_key=f"email:{inbound_id}",
        actor=actor,
        event=rq.RequestEvent.ANSWER_BY_EMAIL,
    )


async def _mark_filed(ctx: Context, inbound_id: int) -> None:
    async with ctx.sessions() as session, session.begin():
        row = await session.get(InboundMessage, inbound_id)
        assert row is not None
        row.outcome = "reply"


async def list_unmatched(ctx: Context, actor: str) -> list[dict[str, object]]:
    """Replies waiting to be filed by hand, decrypted for staff (audited)."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(UnmatchedReply, InboundMessage)
                .join(InboundMessage, InboundMessage.id == UnmatchedReply.inbound_id)
                .where(UnmatchedReply.filed_at.is_(None))
                .order_by(UnmatchedReply.id)
            )
        ).all()
        out: list[dict[str, object]] = []
        for unmatched, inbound in rows:
            meta = ctx.sealer.open_json(inbound.meta_sealed)
            out.append(
                {
                    "id": unmatched.id,
                    "inbound_id": inbound.id,
                    "sender": meta.get("sender"),
                    "subject": meta.get("subject"),
                    "reason": unmatched.reason,
                    "received_at": iso_z(unmatched.received_at),
                }
            )
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="replies.list",
            object_ref="unmatched-replies",
            detail={"count": len(out)},
        )
    return out


async def file_by_hand(ctx: Context, unmatched_id: int, request_ref: str, actor: str) -> None:
    """A person decided which request an unmatched reply belongs to: file it there."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        unmatched = await session.get(UnmatchedReply, unmatched_id)
        if unmatched is None or unmatched.filed_at is not None:
            raise LookupError(f"no unmatched reply {unmatched_id} waiting to be filed")
        request = await session.scalar(select(InfoRequest).where(InfoRequest.ref == request_ref))
        if request is None:
            raise LookupError(f"no request {request_ref}")
        inbound = await session.get(InboundMessage, unmatched.inbound_id)
        assert inbound is not None
        raw = ctx.sealer.open(inbound.raw_sealed)
        unmatched.filed_at = now
        request_id = request.id
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="reply.filed-by-hand",
            object_ref=request_ref,
            detail={"inbound": inbound.id},
        )
    [reading] = await read_replies(ctx, [raw])
    content = {**_answer(reading.parsed, reading.text), "filed_by": actor}
    await _file_answer(ctx, request_id, unmatched.inbound_id, content, actor)
