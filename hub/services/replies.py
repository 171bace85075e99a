"""Agencies' email replies: filed sealed on the request their plus address names.

Each request mail carries ``Reply-To: replies+<request id>.<mac>@domain``; the MAC is
keyed, so an address cannot be forged or guessed. A reply whose address verifies is
filed on that request (``answered-by-email``); anything else is kept as an unmatched
reply with an alert to the team leaders, never dropped. Machine mail (out-of-office
replies to the request) is recorded and not filed as an answer.
"""

from __future__ import annotations

import hashlib
import logging
import re

from sqlalchemy import select

from hub.domain import requests as rq
from hub.domain.intake import Outcome
from hub.domain.notices import Notice
from hub.mail import parse_mail
from hub.ports import InboundItem
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.info_requests import store_answer, token_services
from hub.services.intake import IngestResult, content_fingerprint
from hub.services.timefmt import iso_z
from hub.store.db import advisory_xact_lock
from hub.store.models import InboundMessage, InfoRequest, UnmatchedReply

log = logging.getLogger("hub.replies")
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")
HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")


def _candidates(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("latin-1")
    found: list[str] = []
    for line in re.split(r"\r?\n(?![ \t])", head):
        name, _, value = line.partition(":")
        if name.strip().lower() in HEADERS:
            found += ADDRESS.findall(value)
    return found


def match_request(ctx: Context, raw: bytes) -> int | None:
    """The request id a reply is addressed to, if its plus address verifies."""
    local, _, domain = ctx.settings.replies.address.partition("@")
    for address in _candidates(raw):
        for svc in token_services(ctx):
            request_id = svc.parse_reply_address(address, local, domain)
            if request_id is not None:
                return request_id
    return None


async def file_reply(ctx: Context, item: InboundItem) -> IngestResult:
    """Record one message from the replies mailbox and file it (one transaction for the
    record, then the answer's own transaction: both idempotent on the source key)."""
    parsed = parse_mail(item.raw)
    now = ctx.clock.now()
    request_id = match_request(ctx, item.raw)
    content_hash = content_fingerprint(item.raw)
    async with ctx.sessions() as session, session.begin():
        await advisory_xact_lock(session, "intake")
        seen = await session.scalar(
            select(InboundMessage).where(InboundMessage.source_key == item.source_key)
        )
        if seen is not None and seen.outcome != "reply-pending":
            return IngestResult(seen.id, Outcome.CASE, seen.reason, None, already=True)
        if request_id is not None:
            exists = await session.get(InfoRequest, request_id)
            if exists is None:
                request_id = None
        if parsed.machine_reason:
            outcome, reason = "machine", parsed.machine_reason
        elif request_id is None:
            outcome, reason = "unmatched-reply", "reply names no request that verifies"
        else:
            outcome, reason = "reply", f"reply to request #{request_id}"
        if seen is None:
            next_id = (
                await session.scalar(
                    select(InboundMessage.id).order_by(InboundMessage.id.desc()).limit(1)
                )
                or 0
            ) + 1
            seen = InboundMessage(
                id=next_id,
                source_key=item.source_key,
                mailbox=item.mailbox,
                uidvalidity=item.uidvalidity,
                uid=item.uid,
                message_id_hash=hashlib.sha256((parsed.message_id or "").encode()).hexdigest(),
                content_hash=content_hash,
                dedupe_key=None,
                size=len(item.raw),
                raw_sealed=ctx.sealer.seal(item.raw),
                meta_sealed=ctx.sealer.seal_json(
                    {
                        "message_id": parsed.message_id,
                        "sender": parsed.sender,
                        "subject": parsed.subject,
                    }
                ),
                received_at=now,
                outcome="reply-pending" if outcome == "reply" else outcome,
                reason=reason,
            )
            session.add(seen)
            await session.flush()
        if outcome == "unmatched-reply":
            session.add(UnmatchedReply(inbound_id=seen.id, reason=reason, received_at=now))
            for leader in ctx.settings.alerts.team_leaders:
                await outbox.enqueue(
                    session,
                    ctx,
                    Notice(
                        kind="alert:unmatched-reply",
                        recipient=leader,
                        subject="[MARRAC] A reply could not be matched to a request",
                        body=(
                            f"Inbound message {seen.id} in the replies mailbox names no request"
                            " the hub can verify. It is kept for filing by hand.\n"
                        ),
                        dedupe_key=f"unmatched:{seen.id}:{outbox.recipient_tag(ctx, leader)}",
                    ),
                )
        await audit.record(
            session,
            at=now,
            actor="system:replies",
            action=f"reply.{outcome}",
            object_ref=f"inbound:{seen.id}",
        )
        inbound_id = seen.id
    if outcome == "reply":
        assert request_id is not None
        await store_answer(
            ctx,
            request_id,
            channel="email",
            kind="email",
            content={
                "kind": "email",
                "from": parsed.sender,
                "subject": parsed.subject,
                "text": _text(item.raw),
                "raw_sha256": content_hash,
            },
            dedupe_key=f"email:{inbound_id}",
            actor="system:replies",
            event=rq.RequestEvent.ANSWER_BY_EMAIL,
        )
        async with ctx.sessions() as session, session.begin():
            row = await session.get(InboundMessage, inbound_id)
            assert row is not None
            row.outcome = "reply"
    log.info("event=replies.%s inbound=%s", outcome, inbound_id)
    return IngestResult(
        inbound_id, Outcome.CASE if outcome == "reply" else Outcome.MACHINE, reason, None
    )


def _text(raw: bytes) -> str:
    """The reply's readable text (the referral reader's MIME walker does the work)."""
    from hub.mail.htmltext import html_to_text
    from hub.mail.mime import collect_parts, read_message

    try:
        message, _ = read_message(raw)
        texts = [t.text for t in collect_parts(message).texts if not t.html] or [
            html_to_text(t.text) for t in collect_parts(message).texts
        ]
        return "\n\n".join(texts)[:200_000]
    except Exception:  # noqa: BLE001 - the sealed raw mail is kept regardless
        return ""


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
    parsed = parse_mail(raw)
    await store_answer(
        ctx,
        request_id,
        channel="email",
        kind="email",
        content={
            "kind": "email",
            "from": parsed.sender,
            "subject": parsed.subject,
            "text": _text(raw),
            "filed_by": actor,
        },
        dedupe_key=f"email:{unmatched.inbound_id}",
        actor=actor,
        event=rq.RequestEvent.ANSWER_BY_EMAIL,
    )
