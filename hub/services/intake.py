"""Ingest one raw message: parse, decide, and store everything in ONE transaction.

The caller (the intake loop) acknowledges the message to the mail server only after
:func:`ingest` returns, i.e. after commit (STYLE.md habit 1). Running :func:`ingest` again
for the same message is harmless: the source key (mailbox, UIDVALIDITY, UID) finds the
earlier record, and a copy under another UID is recognised by Message-ID + content hash.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.referral_mail import ParsedMail, parse_mail
from hub.domain import notices
from hub.domain.intake import Decision, Outcome, case_reference, decide
from hub.domain.referral import Person as PersonValue
from hub.domain.referral import Referral, Role
from hub.domain.repeats import EarlierCase, decide_repeat, identity_key
from hub.domain.senders import is_allowlisted, judge_sender
from hub.services import audit, outbox
from hub.services.context import Context
from hub.store.db import advisory_xact_lock
from hub.store.models import Case, InboundMessage, MailboxState, Person

log = logging.getLogger("hub.intake")

SYSTEM_ACTOR = "system:intake"


@dataclass(frozen=True)
class InboundItem:
    """One message as a source hands it over."""

    source_key: str
    mailbox: str
    raw: bytes
    uidvalidity: int | None = None
    uid: int | None = None


@dataclass(frozen=True)
class IngestResult:
    inbound_id: int
    outcome: Outcome
    reason: str
    case_ref: str | None = None
    # True when this exact message (same source key) had already been committed.
    already: bool = False

    @property
    def quarantined(self) -> bool:
        return self.outcome == Outcome.QUARANTINE


def _header_block(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        cut = raw.find(sep)
        if cut != -1:
            return raw[: cut + len(sep)]
    return raw[:65536]


def read(ctx: Context, raw: bytes) -> tuple[ParsedMail, bool]:
    """Parse a message; an oversized one is read for its headers only."""
    oversized = len(raw) > ctx.settings.intake.max_message_bytes
    parsed = parse_mail(_header_block(raw) if oversized else raw)
    return parsed, oversized


def _person_json(p: PersonValue) -> dict[str, object]:
    return {
        "name": p.name,
        "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
        "gender": p.gender,
        "address": p.address,
        "phone": p.phone,
        "details": dict(p.details),
    }


def _details_json(parsed: ParsedMail, referral: Referral) -> dict[str, object]:
    return {
        "referrer": {
            "name": referral.referrer.name,
            "email": referral.referrer.email,
            "phone": referral.referrer.phone,
        },
        "referral_reason": referral.referral_reason,
        "dash_score": referral.dash_score,
        "incident": {
            "at": referral.incident_at.isoformat() if referral.incident_at else None,
            "location": referral.incident_location,
            "children_present": referral.children_present,
        },
        "summary": referral.summary,
        "forwarded_by": referral.forwarded_by,
        "sender": parsed.sender,
        "subject": parsed.subject,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": len(a.data)}
            for a in referral.attachments
        ],
    }


async def _earlier_cases(
    session: AsyncSession, victim_idx: str | None, perp_idx: str | None
) -> list[EarlierCase]:
    wanted = [i for i in (victim_idx, perp_idx) if i]
    if not wanted:
        return []
    rows = (
        await session.execute(
            select(Person.case_id, Person.role, Person.identity_index, Case.ref, Case.received_at)
            .join(Case, Case.id == Person.case_id)
            .where(Person.identity_index.in_(wanted))
        )
    ).all()
    found: dict[int, EarlierCase] = {}
    for case_id, role, idx, ref, received_at in rows:
        earlier = found.get(case_id) or EarlierCase(case_id, ref or "", received_at, False, False)
        if role == Role.VICTIM.value and idx == victim_idx:
            earlier = replace(earlier, same_victim=True)
        if role == Role.PERPETRATOR.value and idx == perp_idx:
            earlier = replace(earlier, same_perpetrator=True)
        found[case_id] = earlier
    return list(found.values())


def _index(ctx: Context, person: PersonValue | None) -> str | None:
    if person is None:
        return None
    key = identity_key(person.name, person.date_of_birth)
    return ctx.indexer.blind("identity", key) if key else None


async def _open_case(
    session: AsyncSession,
    ctx: Context,
    parsed: ParsedMail,
    decision: Decision,
    inbound: InboundMessage,
) -> Case:
    referral = parsed.referral
    now = ctx.clock.now()
    victim_idx = _index(ctx, referral.victim)
    perp_idx = _index(ctx, referral.perpetrator)
    repeat = decide_repeat(await _earlier_cases(session, victim_idx, perp_idx), now)
    case = Case(
        status="needs-triage" if decision.outcome == Outcome.TRIAGE else "open",
        received_at=now,
        force_reference=(referral.force_reference or None) and referral.force_reference[:100],
        risk_level=(referral.risk_level or None) and referral.risk_level[:40],
        division=(referral.division or None) and referral.division[:100],
        area=(referral.area or None) and referral.area[:100],
        source=referral.source,
        repeat_of_id=repeat.repeat_of.case_id if repeat.repeat_of else None,
        linked_refs=list(repeat.linked),
        problems=list(decision.problems),
        details_sealed=ctx.sealer.seal_json(_details_json(parsed, referral)),
    )
    session.add(case)
    await session.flush()
    case.ref = case_reference(ctx.settings.hub.reference_prefix, now.year, case.id)
    people: list[tuple[PersonValue, str | None]] = []
    if referral.victim:
        people.append((referral.victim, victim_idx))
    if referral.perpetrator:
        people.append((referral.perpetrator, perp_idx))
    people += [(child, _index(ctx, child)) for child in referral.children]
    for ordinal, (person, idx) in enumerate(people):
        session.add(
            Person(
                case_id=case.id,
                role=person.role.value,
                ordinal=ordinal,
                sealed=ctx.sealer.seal_json(_person_json(person)),
                identity_index=idx,
            )
        )
    inbound.case_id = case.id
    await _queue_case_mail(session, ctx, parsed, case, inbound, repeat.repeat_of)
    return case


async def _queue_case_mail(
    session: AsyncSession,
    ctx: Context,
    parsed: ParsedMail,
    case: Case,
    inbound: InboundMessage,
    repeat_of: EarlierCase | None,
) -> None:
    assert case.ref is not None
    tz = ctx.settings.hub.timezone
    allowed = ctx.settings.intake.allowed_senders
    # Acknowledge the envelope sender (proved allowlisted) and the referrer the form
    # names when that address is allowlisted too: the hub never mails an address that
    # only the message's own text supplied.
    recipients: list[str] = []
    for address in (parsed.sender, parsed.referral.referrer.email):
        if address and is_allowlisted(address, allowed):
            address = address.strip().lower()
            if address not in recipients:
                recipients.append(address)
    for address in recipients:
        await outbox.enqueue(
            session,
            ctx,
            notices.acknowledgement(
                recipient=address,
                case_ref=case.ref,
                force_reference=case.force_reference,
                needs_triage=case.status == "needs-triage",
                received_at=case.received_at,
                tz=tz,
                dedupe_key=f"ack:{inbound.id}:{outbox.recipient_tag(ctx, address)}",
                in_reply_to=parsed.message_id,
            ),
        )
    for leader in ctx.settings.alerts.team_leaders:
        await outbox.enqueue(
            session,
            ctx,
            notices.new_case_alert(
                recipient=leader,
                case_ref=case.ref,
                risk_level=case.risk_level,
                division=case.division,
                area=case.area,
                needs_triage=case.status == "needs-triage",
                problems=tuple(case.problems),
                repeat_of=repeat_of.ref if repeat_of else None,
                received_at=case.received_at,
                tz=tz,
                dedupe_key=f"alert:new-case:{case.ref}:{outbox.recipient_tag(ctx, leader)}",
            ),
        )


async def _note_uid(session: AsyncSession, ctx: Context, item: InboundItem) -> None:
    if item.uid is None or item.uidvalidity is None:
        return
    state = await session.get(MailboxState, item.mailbox)
    now = ctx.clock.now()
    if state is None:
        session.add(
            MailboxState(
                mailbox=item.mailbox,
                uidvalidity=item.uidvalidity,
                last_uid=item.uid,
                updated_at=now,
            )
        )
    elif state.uidvalidity != item.uidvalidity:
        state.uidvalidity, state.last_uid, state.updated_at = item.uidvalidity, item.uid, now
    elif item.uid > state.last_uid:
        state.last_uid, state.updated_at = item.uid, now


# Header fields that each hop adds on delivery (RFC 5321 4.4 trace fields and their
# vendor cousins): two deliveries of the same message differ only in these.
TRACE_FIELDS = (
    b"received:",
    b"return-path:",
    b"delivered-to:",
    b"x-original-to:",
    b"authentication-results:",
    b"arc-",
    b"x-spam",
    b"x-virus",
    b"x-ms-exchange-organization",
    b"x-envelope-",
    b"x-delivered",
)


def content_fingerprint(raw: bytes) -> str:
    """SHA-256 of a message minus its trace header fields, so that the same message
    delivered twice (with new Received lines) is recognised as the same."""
    cut = -1
    for sep in (b"\r\n\r\n", b"\n\n"):
        found = raw.find(sep)
        if found != -1 and (cut == -1 or found < cut):
            cut = found
    head, body = (raw[:cut], raw[cut:]) if cut != -1 else (raw, b"")
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the field above
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(TRACE_FIELDS)
        if not skipping:
            kept.append(line)
    return hashlib.sha256(b"".join(kept) + body).hexdigest()


def _message_id_hash(message_id: str | None) -> str:
    return hashlib.sha256((message_id or "").strip().encode()).hexdigest()


async def ingest(ctx: Context, item: InboundItem) -> IngestResult:
    """Record one message and everything that follows from it, in one transaction."""
    parsed, oversized = read(ctx, item.raw)
    for attempt in range(3):
        try:
            return await _ingest_once(ctx, item, parsed, oversized)
        except IntegrityError:
            # Another process committed the same message between our check and our
            # insert; the retry sees its row and records this one as already done.
            if attempt == 2:
                raise
            log.info("event=intake.race source=%s retry=%s", item.source_key, attempt + 1)
    raise AssertionError("unreachable")


async def _ingest_once(
    ctx: Context, item: InboundItem, parsed: ParsedMail, oversized: bool
) -> IngestResult:
    content_hash = content_fingerprint(item.raw)
    mid_hash = _message_id_hash(parsed.message_id)
    dedupe_key = f"{mid_hash}:{content_hash}"
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        await advisory_xact_lock(session, "intake")
        seen = await session.scalar(
            select(InboundMessage).where(InboundMessage.source_key == item.source_key)
        )
        if seen is not None:
            ref = await session.scalar(select(Case.ref).where(Case.id == seen.case_id))
            return IngestResult(seen.id, Outcome(seen.outcome), seen.reason, ref, already=True)

        first = await session.scalar(
            select(InboundMessage.id).where(InboundMessage.dedupe_key == dedupe_key)
        )
        reused = False
        if first is None and parsed.message_id:
            reused = (
                await session.scalar(
                    select(InboundMessage.id)
                    .where(InboundMessage.message_id_hash == mid_hash)
                    .limit(1)
                )
            ) is not None
        meta = {
            "message_id": parsed.message_id,
            "sender": parsed.sender,
            "subject": parsed.subject,
            "machine_reason": parsed.machine_reason,
        }
        inbound = InboundMessage(
            source_key=item.source_key,
            mailbox=item.mailbox,
            uidvalidity=item.uidvalidity,
            uid=item.uid,
            message_id_hash=mid_hash,
            content_hash=content_hash,
            dedupe_key=None if first is not None else dedupe_key,
            size=len(item.raw),
            raw_sealed=ctx.sealer.seal(item.raw),
            meta_sealed=ctx.sealer.seal_json(meta),
            received_at=now,
            outcome="",
            reason="",
            duplicate_of_id=first,
        )
        if first is not None:
            decision = Decision(Outcome.DUPLICATE, f"same Message-ID and content as #{first}")
        else:
            verdict = judge_sender(
                parsed.sender,
                ctx.settings.intake.allowed_senders,
                parsed.auth_results,
                ctx.settings.intake.trusted_authserv_id,
            )
            decision = decide(
                parsed.referral,
                parsed.machine_reason,
                verdict,
                oversized=oversized,
                message_id_reused=reused,
            )
        inbound.outcome = decision.outcome.value
        inbound.reason = decision.reason[:300]
        session.add(inbound)
        await session.flush()

        case_ref = None
        if decision.opens_case:
            case = await _open_case(session, ctx, parsed, decision, inbound)
            case_ref = case.ref
        elif decision.outcome == Outcome.QUARANTINE:
            for leader in ctx.settings.alerts.team_leaders:
                tag = outbox.recipient_tag(ctx, leader)
                await outbox.enqueue(
                    session,
                    ctx,
                    notices.quarantine_alert(
                        recipient=leader,
                        inbound_id=inbound.id,
                        reason=decision.reason,
                        received_at=now,
                        tz=ctx.settings.hub.timezone,
                        dedupe_key=f"alert:quarantine:{inbound.id}:{tag}",
                    ),
                )
        await _note_uid(session, ctx, item)
        await audit.record(
            session,
            at=now,
            actor=SYSTEM_ACTOR,
            action=f"intake.{decision.outcome.value}",
            object_ref=case_ref or f"inbound:{inbound.id}",
            detail={"inbound": inbound.id, "reason": decision.reason[:200]},
        )
    log.info(
        "event=intake.%s inbound=%s case=%s reason=%r problems=%d",
        decision.outcome.value,
        inbound.id,
        case_ref or "-",
        decision.reason,
        len(decision.problems),
    )
    return IngestResult(inbound.id, decision.outcome, decision.reason, case_ref)
