"""Ingest one raw message: parse, decide, and store everything in ONE transaction.

The caller (the intake loop) acknowledges the message to the mail server only after
:func:`ingest` returns, i.e. after commit (STYLE.md habit 1). Running :func:`ingest` again
for the same message is harmless: the source key (mailbox, UIDVALIDITY, UID) finds the
earlier record, and a copy under another UID is recognised by Message-ID + content hash.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain import notices
from hub.domain.deadlines import milestone_due, next_action_at, steps_for_milestone
from hub.domain.intake import Decision, Outcome, case_reference, decide
from hub.domain.referral import Person as PersonValue
from hub.domain.referral import Referral, Role
from hub.domain.repeats import EarlierCase, decide_repeat, identity_key
from hub.domain.senders import is_allowlisted, judge_sender
from hub.mail import ParsedMail, parse_mail
from hub.ports import InboundItem
from hub.services import audit, outbox
from hub.services.context import Context
from hub.store.db import advisory_xact_lock
from hub.store.models import Case, InboundMessage, MailboxState, Milestone, Person

log = logging.getLogger("hub.intake")

SYSTEM_ACTOR = "system:intake"


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


def _index(ctx: Context, person: PersonValue | None) -> str | None:
    if person is None:
        return None
    key = identity_key(person.name, person.date_of_birth)
    return ctx.indexer.blind("identity", key) if key else None


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
    return (await ingest_batch(ctx, [item]))[0]


async def ingest_batch(ctx: Context, items: list[InboundItem]) -> list[IngestResult]:
    """Record a batch of messages in one transaction: each message's records, case, mail
    and audit event are all committed together, or none of them are.

    One transaction per batch rather than per message is what makes intake fast (the
    cost is in round trips, not in bytes). If the batch fails for a reason of one
    message's own, the caller retries the messages one by one, so a single poison
    message is parked alone and the rest go through.
    """
    reads = [read(ctx, item.raw) for item in items]
    for attempt in range(3):
        try:
            return await _ingest(ctx, items, reads)
        except IntegrityError:
            # Another process committed one of these messages between our check and our
            # insert; the retry sees its rows and records these as already done.
            if attempt == 2:
                raise
            log.info("event=intake.race batch=%d retry=%d", len(items), attempt + 1)
    raise AssertionError("unreachable")


@dataclass
class _Batch:
    """What one transaction writes, built in memory, inserted table by table."""

    inbound: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    audit: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)


async def _known(
    session: AsyncSession, keys: list[str], dedupes: list[str], mids: list[str]
) -> list[Any]:
    conditions = [InboundMessage.source_key.in_(keys), InboundMessage.dedupe_key.in_(dedupes)]
    if mids:
        conditions.append(InboundMessage.message_id_hash.in_(mids))
    query = (
        select(
            InboundMessage.id,
            InboundMessage.source_key,
            InboundMessage.dedupe_key,
            InboundMessage.message_id_hash,
            InboundMessage.outcome,
            InboundMessage.reason,
            Case.ref,
        )
        .outerjoin(Case, Case.id == InboundMessage.case_id)
        .where(or_(*conditions))
    )
    return list((await session.execute(query)).all())


async def _earlier_cases(session: AsyncSession, indexes: set[str]) -> list[Any]:
    if not indexes:
        return []
    query = (
        select(Person.case_id, Person.role, Person.identity_index, Case.ref, Case.received_at)
        .join(Case, Case.id == Person.case_id)
        .where(Person.identity_index.in_(sorted(indexes)))
    )
    return list((await session.execute(query)).all())


def _match(
    known: list[tuple[int, str, str | None, str, datetime]],
    victim_idx: str | None,
    perp_idx: str | None,
) -> list[EarlierCase]:
    found: dict[int, EarlierCase] = {}
    for case_id, role, idx, ref, received_at in known:
        if idx is None or idx not in (victim_idx, perp_idx):
            continue
        earlier = found.get(case_id) or EarlierCase(case_id, ref, received_at, False, False)
        if role == Role.VICTIM.value and idx == victim_idx:
            earlier = replace(earlier, same_victim=True)
        if role == Role.PERPETRATOR.value and idx == perp_idx:
            earlier = replace(earlier, same_perpetrator=True)
        found[case_id] = earlier
    return list(found.values())


async def _next_ids(session: AsyncSession) -> tuple[int, int]:
    """Ids are assigned here, under the intake lock, so that a whole batch (including
    links between its own messages and cases) is known before anything is inserted."""
    inbound = await session.scalar(select(func.coalesce(func.max(InboundMessage.id), 0)))
    case = await session.scalar(select(func.coalesce(func.max(Case.id), 0)))
    return int(inbound or 0) + 1, int(case or 0) + 1


async def _ingest(
    ctx: Context, items: list[InboundItem], reads: list[tuple[ParsedMail, bool]]
) -> list[IngestResult]:
    now = ctx.clock.now()
    tz = ctx.settings.hub.timezone
    intake = ctx.settings.intake
    fingerprints = [
        (_message_id_hash(parsed.message_id), content_fingerprint(item.raw))
        for item, (parsed, _) in zip(items, reads, strict=True)
    ]
    async with ctx.sessions() as session, session.begin():
        await advisory_xact_lock(session, "intake")
        known = await _known(
            session,
            [i.source_key for i in items],
            [f"{m}:{c}" for m, c in fingerprints],
            [m for (m, _), (p, _) in zip(fingerprints, reads, strict=True) if p.message_id],
        )
        by_source = {row.source_key: row for row in known}
        first_of = {row.dedupe_key: row.id for row in known if row.dedupe_key}
        mids_seen = {row.message_id_hash for row in known}
        victim_perp = [
            (_index(ctx, p.referral.victim), _index(ctx, p.referral.perpetrator)) for p, _ in reads
        ]
        wanted = {i for pair in victim_perp for i in pair if i}
        people_known: list[tuple[int, str, str | None, str, datetime]] = [
            tuple(r) for r in await _earlier_cases(session, wanted)
        ]
        next_inbound, next_case = await _next_ids(session)
        batch = _Batch()
        results: list[IngestResult] = []
        max_uid: dict[tuple[str, int], int] = {}

        for item, (parsed, oversized), (mid_hash, content_hash), (v_idx, p_idx) in zip(
            items, reads, fingerprints, victim_perp, strict=True
        ):
            seen = by_source.get(item.source_key)
            if seen is not None:
                results.append(
                    IngestResult(seen.id, Outcome(seen.outcome), seen.reason, seen.ref, True)
                )
                continue
            inbound_id, next_inbound = next_inbound, next_inbound + 1
            dedupe_key = f"{mid_hash}:{content_hash}"
            first = first_of.get(dedupe_key)
            if first is not None:
                decision = Decision(Outcome.DUPLICATE, f"same Message-ID and content as #{first}")
            else:
                first_of[dedupe_key] = inbound_id
                verdict = judge_sender(
                    parsed.sender,
                    intake.allowed_senders,
                    parsed.auth_results,
                    intake.trusted_authserv_id,
                )
                decision = decide(
                    parsed.referral,
                    parsed.machine_reason,
                    verdict,
                    oversized=oversized,
                    message_id_reused=bool(parsed.message_id) and mid_hash in mids_seen,
                )
            mids_seen.add(mid_hash)

            case_id = case_ref = None
            if decision.opens_case:
                case_id, next_case = next_case, next_case + 1
                case_ref = case_reference(ctx.settings.hub.reference_prefix, now.year, case_id)
                repeat = decide_repeat(_match(people_known, v_idx, p_idx), now)
                _add_case(
                    ctx,
                    batch,
                    parsed,
                    decision,
                    case_id,
                    case_ref,
                    inbound_id,
                    repeat,
                    v_idx,
                    p_idx,
                    now,
                )
                people_known += [
                    (case_id, Role.VICTIM.value, v_idx, case_ref, now),
                    (case_id, Role.PERPETRATOR.value, p_idx, case_ref, now),
                ]
            elif decision.outcome == Outcome.QUARANTINE:
                for leader in ctx.settings.alerts.team_leaders:
                    tag = outbox.recipient_tag(ctx, leader)
                    batch.outbox.append(
                        outbox.outbox_row(
                            ctx,
                            notices.quarantine_alert(
                                recipient=leader,
                                inbound_id=inbound_id,
                                reason=decision.reason,
                                received_at=now,
                                tz=tz,
                                dedupe_key=f"alert:quarantine:{inbound_id}:{tag}",
                            ),
                        )
                    )
            batch.inbound.append(
                dict(
                    id=inbound_id,
                    source_key=item.source_key,
                    mailbox=item.mailbox,
                    uidvalidity=item.uidvalidity,
                    uid=item.uid,
                    message_id_hash=mid_hash,
                    content_hash=content_hash,
                    dedupe_key=None if first is not None else dedupe_key,
                    size=len(item.raw),
                    raw_sealed=ctx.sealer.seal(item.raw),
                    meta_sealed=ctx.sealer.seal_json(
                        {
                            "message_id": parsed.message_id,
                            "sender": parsed.sender,
                            "subject": parsed.subject,
                            "machine_reason": parsed.machine_reason,
                        }
                    ),
                    received_at=now,
                    outcome=decision.outcome.value,
                    reason=decision.reason[:300],
                    case_id=case_id,
                    duplicate_of_id=first,
                )
            )
            batch.audit.append(
                (
                    SYSTEM_ACTOR,
                    f"intake.{decision.outcome.value}",
                    case_ref or f"inbound:{inbound_id}",
                    {"inbound": inbound_id, "reason": decision.reason[:200]},
                )
            )
            if item.uid is not None and item.uidvalidity is not None:
                key = (item.mailbox, item.uidvalidity)
                max_uid[key] = max(max_uid.get(key, 0), item.uid)
            by_source[item.source_key] = _Seen(inbound_id, item.source_key, decision, case_ref)
            results.append(IngestResult(inbound_id, decision.outcome, decision.reason, case_ref))
            log.info(
                "event=intake.%s inbound=%s case=%s reason=%r problems=%d",
                decision.outcome.value,
                inbound_id,
                case_ref or "-",
                decision.reason,
                len(decision.problems),
            )

        # Cases first: inbound rows point at them.
        if batch.cases:
            await session.execute(insert(Case.__table__), batch.cases)
        if batch.inbound:
            await session.execute(insert(InboundMessage.__table__), batch.inbound)
        if batch.persons:
            await session.execute(insert(Person.__table__), batch.persons)
        if batch.milestones:
            await session.execute(insert(Milestone.__table__), batch.milestones)
        await outbox.insert_rows(session, batch.outbox)
        await audit.record_many(session, now, batch.audit)
        for (mailbox, uidvalidity), uid in max_uid.items():
            await _note_uid(session, mailbox, uidvalidity, uid, now)
    return results


@dataclass(frozen=True)
class _Seen:
    """A message met earlier in this same batch (same source key twice)."""

    id: int
    source_key: str
    decision: Decision
    ref: str | None

    @property
    def outcome(self) -> str:
        return self.decision.outcome.value

    @property
    def reason(self) -> str:
        return self.decision.reason


def _add_case(
    ctx: Context,
    batch: _Batch,
    parsed: ParsedMail,
    decision: Decision,
    case_id: int,
    case_ref: str,
    inbound_id: int,
    repeat: Any,
    v_idx: str | None,
    p_idx: str | None,
    now: datetime,
) -> None:
    referral = parsed.referral
    status = "needs-triage" if decision.outcome == Outcome.TRIAGE else "open"

    def cut(value: str | None, n: int) -> str | None:
        return value[:n] if value else None

    batch.cases.append(
        dict(
            id=case_id,
            ref=case_ref,
            status=status,
            received_at=now,
            force_reference=cut(referral.force_reference, 100),
            risk_level=cut(referral.risk_level, 40),
            division=cut(referral.division, 100),
            area=cut(referral.area, 100),
            source=referral.source,
            repeat_of_id=repeat.repeat_of.case_id if repeat.repeat_of else None,
            linked_refs=list(repeat.linked),
            problems=list(decision.problems),
            details_sealed=ctx.sealer.seal_json(_details_json(parsed, referral)),
            coordinator=None,
        )
    )
    people: list[tuple[PersonValue, str | None]] = []
    if referral.victim:
        people.append((referral.victim, v_idx))
    if referral.perpetrator:
        people.append((referral.perpetrator, p_idx))
    people += [(child, _index(ctx, child)) for child in referral.children]
    for ordinal, (person, idx) in enumerate(people):
        batch.persons.append(
            dict(
                case_id=case_id,
                role=person.role.value,
                ordinal=ordinal,
                sealed=ctx.sealer.seal_json(_person_json(person)),
                identity_index=idx,
            )
        )
    # The appendix's rhythm starts now: plan within 48 hours, review within two weeks
    # (counted from the referral until a plan is recorded).
    for kind in ("plan-48h", "review-2w"):
        due = milestone_due(kind, now, ctx.policy, ctx.calendar)
        steps = steps_for_milestone(kind, due, ctx.policy)
        batch.milestones.append(
            dict(
                case_id=case_id,
                kind=kind,
                anchor_at=now,
                due_at=due,
                state="pending",
                met_at=None,
                next_action_at=next_action_at(steps, set()) or due,
            )
        )
    _queue_case_mail(
        ctx, batch, parsed, case_ref, status, referral, inbound_id, repeat.repeat_of, decision, now
    )


def _queue_case_mail(
    ctx: Context,
    batch: _Batch,
    parsed: ParsedMail,
    case_ref: str,
    status: str,
    referral: Referral,
    inbound_id: int,
    repeat_of: EarlierCase | None,
    decision: Decision,
    now: datetime,
) -> None:
    tz = ctx.settings.hub.timezone
    allowed = ctx.settings.intake.allowed_senders
    # Acknowledge the envelope sender (proved allowlisted) and the referrer the form
    # names when that address is allowlisted too: the hub never mails an address that
    # only the message's own text supplied.
    recipients: list[str] = []
    for address in (parsed.sender, referral.referrer.email):
        if address and is_allowlisted(address, allowed):
            address = address.strip().lower()
            if address not in recipients:
                recipients.append(address)
    for address in recipients:
        batch.outbox.append(
            outbox.outbox_row(
                ctx,
                notices.acknowledgement(
                    recipient=address,
                    case_ref=case_ref,
                    force_reference=referral.force_reference,
                    needs_triage=status == "needs-triage",
                    received_at=now,
                    tz=tz,
                    dedupe_key=f"ack:{inbound_id}:{outbox.recipient_tag(ctx, address)}",
                    in_reply_to=parsed.message_id,
                ),
            )
        )
    for leader in ctx.settings.alerts.team_leaders:
        batch.outbox.append(
            outbox.outbox_row(
                ctx,
                notices.new_case_alert(
                    recipient=leader,
                    case_ref=case_ref,
                    risk_level=referral.risk_level,
                    division=referral.division,
                    area=referral.area,
                    needs_triage=status == "needs-triage",
                    problems=decision.problems,
                    repeat_of=repeat_of.ref if repeat_of else None,
                    received_at=now,
                    tz=tz,
                    dedupe_key=f"alert:new-case:{case_ref}:{outbox.recipient_tag(ctx, leader)}",
                ),
            )
        )


async def _note_uid(
    session: AsyncSession, mailbox: str, uidvalidity: int, uid: int, now: datetime
) -> None:
    """Record the highest UID committed for the mailbox (per UIDVALIDITY)."""
    state = await session.get(MailboxState, mailbox)
    if state is None:
        session.add(
            MailboxState(mailbox=mailbox, uidvalidity=uidvalidity, last_uid=uid, updated_at=now)
        )
    elif state.uidvalidity != uidvalidity:
        state.uidvalidity, state.last_uid, state.updated_at = uidvalidity, uid, now
    elif uid > state.last_uid:
        state.last_uid, state.updated_at = uid, now
