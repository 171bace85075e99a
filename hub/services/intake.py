"""Ingest raw messages: parse, decide, and store everything in ONE transaction.

The caller (the intake loop) acknowledges the message to the mail server only after
:func:`ingest` returns, i.e. after commit (STYLE.md habit 1). Running :func:`ingest` again
for the same message is harmless: the source key (mailbox, UIDVALIDITY, UID) finds the
earlier record, and a copy under another UID is recognised by Message-ID + content hash.

This module is the transaction; :mod:`hub.services.intake_records` builds the rows it
writes and :mod:`hub.services.intake_mail` the mail it queues.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.intake import Decision, Outcome, case_reference, decide
from hub.domain.repeats import decide_repeat
from hub.domain.senders import judge_sender
from hub.mail import content_fingerprint, message_id_hash
from hub.ports import InboundItem
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.intake_mail import case_mail, quarantine_alerts
from hub.services.intake_reading import Reading, read_referrals
from hub.services.intake_records import (
    SYSTEM_ACTOR,
    Batch,
    Incoming,
    KnownPerson,
    NewCase,
    add_case,
    audit_row,
    identity_index,
    inbound_row,
    match_earlier,
    people_of,
)
from hub.store.db import advisory_xact_lock
from hub.store.models import Case, InboundMessage, MailboxState, Milestone, Person, table_of

__all__ = [
    "SYSTEM_ACTOR",
    "IngestResult",
    "content_fingerprint",
    "ingest",
    "ingest_batch",
]

log = logging.getLogger("hub.intake")


@dataclass(frozen=True)
class IngestResult:
    """What became of one message: its record, the outcome and why, and its case."""

    inbound_id: int
    outcome: Outcome
    reason: str
    case_ref: str | None = None
    # True when this exact message (same source key) had already been committed.
    already: bool = False

    @property
    def quarantined(self) -> bool:
        return self.outcome == Outcome.QUARANTINE


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
    # Read in the reading workers, each message within its budget, before any lock.
    reads = await read_referrals(ctx, [item.raw for item in items])
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


@dataclass
class _Known:
    """What the database held when the batch began, plus what the batch has added."""

    # Records by source key: database rows, or _Seen for this batch's own.
    by_source: dict[str, Any]
    # The first record of each dedupe key (Message-ID + content).
    first_of: dict[str, int]
    message_ids: set[str]
    people: list[KnownPerson]
    next_inbound: int
    next_case: int

    def take_inbound_id(self) -> int:
        self.next_inbound += 1
        return self.next_inbound - 1

    def take_case_id(self) -> int:
        self.next_case += 1
        return self.next_case - 1


def _incoming(ctx: Context, item: InboundItem, reading: Reading) -> Incoming:
    parsed = reading.parsed
    referral = parsed.referral
    return Incoming(
        item=item,
        parsed=parsed,
        oversized=reading.oversized,
        message_id_hash=message_id_hash(parsed.message_id),
        content_hash=content_fingerprint(item.raw),
        victim_index=identity_index(ctx, referral.victim),
        perpetrator_index=identity_index(ctx, referral.perpetrator),
    )


async def _ingest(
    ctx: Context, items: list[InboundItem], reads: list[Reading]
) -> list[IngestResult]:
    now = ctx.clock.now()
    messages = [_incoming(ctx, item, reading) for item, reading in zip(items, reads, strict=True)]
    async with ctx.sessions() as session, session.begin():
        await advisory_xact_lock(session, "intake")
        known = await _load(session, messages)
        batch = Batch()
        results = [_settle(ctx, known, batch, message, now) for message in messages]
        await _write(session, batch, now)
    return results


async def _load(session: AsyncSession, messages: list[Incoming]) -> _Known:
    """Everything the batch's decisions depend on, read once under the intake lock."""
    rows = await _records(
        session,
        [m.item.source_key for m in messages],
        [m.dedupe_key for m in messages],
        [m.message_id_hash for m in messages if m.parsed.message_id],
    )
    indexes = {i for m in messages for i in (m.victim_index, m.perpetrator_index) if i}
    people: list[KnownPerson] = [tuple(r) for r in await _earlier_people(session, indexes)]
    next_inbound, next_case = await _next_ids(session)
    return _Known(
        by_source={row.source_key: row for row in rows},
        first_of={row.dedupe_key: row.id for row in rows if row.dedupe_key},
        message_ids={row.message_id_hash for row in rows},
        people=people,
        next_inbound=next_inbound,
        next_case=next_case,
    )


async def _records(
    session: AsyncSession, keys: list[str], dedupes: list[str], mids: list[str]
) -> list[Any]:
    """Earlier records of these messages: same source key, same dedupe key, or (for the
    reuse check) same Message-ID."""
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


async def _earlier_people(session: AsyncSession, indexes: set[str]) -> list[Any]:
    """The people of earlier cases whose blind index is one of ``indexes``."""
    if not indexes:
        return []
    query = (
        select(Person.case_id, Person.role, Person.identity_index, Case.ref, Case.received_at)
        .join(Case, Case.id == Person.case_id)
        .where(Person.identity_index.in_(sorted(indexes)))
    )
    return list((await session.execute(query)).all())


async def _next_ids(session: AsyncSession) -> tuple[int, int]:
    """Ids are assigned here, under the intake lock, so that a whole batch (including
    links between its own messages and cases) is known before anything is inserted."""
    inbound = await session.scalar(select(func.coalesce(func.max(InboundMessage.id), 0)))
    case = await session.scalar(select(func.coalesce(func.max(Case.id), 0)))
    return int(inbound or 0) + 1, int(case or 0) + 1


def _settle(
    ctx: Context, known: _Known, batch: Batch, message: Incoming, now: datetime
) -> IngestResult:
    """Decide one message and add its rows to the batch."""
    seen = known.by_source.get(message.item.source_key)
    if seen is not None:
        return IngestResult(seen.id, Outcome(seen.outcome), seen.reason, seen.ref, True)
    inbound_id = known.take_inbound_id()
    duplicate_of = known.first_of.get(message.dedupe_key)
    decision = _decide(ctx, known, message, inbound_id, duplicate_of)
    case_id = case_ref = None
    if decision.opens_case:
        case = _open_case(ctx, known, batch, message, decision, inbound_id, now)
        case_id, case_ref = case.case_id, case.case_ref
    elif decision.outcome == Outcome.QUARANTINE:
        sender = message.parsed.sender
        batch.outbox += quarantine_alerts(ctx, inbound_id, sender, decision.reason, now)
    batch.inbound.append(
        inbound_row(ctx, message, decision, (inbound_id, case_id), duplicate_of, now)
    )
    batch.audit.append(audit_row(decision, inbound_id, case_ref))
    batch.note_uid(message.item)
    known.by_source[message.item.source_key] = _Seen(
        inbound_id, message.item.source_key, decision, case_ref
    )
    _log(decision, inbound_id, case_ref)
    return IngestResult(inbound_id, decision.outcome, decision.reason, case_ref)


def _decide(
    ctx: Context, known: _Known, message: Incoming, inbound_id: int, duplicate_of: int | None
) -> Decision:
    """A copy of a message already recorded is a duplicate; any other is judged."""
    parsed, intake = message.parsed, ctx.settings.intake
    if duplicate_of is not None:
        decision = Decision(Outcome.DUPLICATE, f"same Message-ID and content as #{duplicate_of}")
    else:
        known.first_of[message.dedupe_key] = inbound_id
        verdict = judge_sender(
            parsed.sender, intake.allowed_senders, parsed.auth_results, intake.trusted_authserv_id
        )
        decision = decide(
            parsed.referral,
            parsed.machine_reason,
            verdict,
            oversized=message.oversized,
            message_id_reused=bool(parsed.message_id)
            and message.message_id_hash in known.message_ids,
        )
    known.message_ids.add(message.message_id_hash)
    return decision


def _open_case(
    ctx: Context,
    known: _Known,
    batch: Batch,
    message: Incoming,
    decision: Decision,
    inbound_id: int,
    now: datetime,
) -> NewCase:
    """The case's rows and mail; its people become known to the rest of the batch."""
    case_id = known.take_case_id()
    earlier = match_earlier(known.people, message.victim_index, message.perpetrator_index)
    case = NewCase(
        message=message,
        decision=decision,
        case_id=case_id,
        case_ref=case_reference(ctx.settings.hub.reference_prefix, now.year, case_id),
        inbound_id=inbound_id,
        repeat=decide_repeat(earlier, now),
        now=now,
    )
    add_case(ctx, batch, case)
    batch.outbox += case_mail(ctx, case)
    known.people += people_of(case)
    return case


def _log(decision: Decision, inbound_id: int, case_ref: str | None) -> None:
    log.info(
        "event=intake.%s inbound=%s case=%s reason=%r problems=%d",
        decision.outcome.value,
        inbound_id,
        case_ref or "-",
        decision.reason,
        len(decision.problems),
    )


async def _write(session: AsyncSession, batch: Batch, now: datetime) -> None:
    """Insert the batch table by table (cases first: inbound rows point at them)."""
    for model, rows in (
        (Case, batch.cases),
        (InboundMessage, batch.inbound),
        (Person, batch.persons),
        (Milestone, batch.milestones),
    ):
        if rows:
            await session.execute(insert(table_of(model)), rows)
    await outbox.insert_rows(session, batch.outbox)
    await audit.record_many(session, now, batch.audit)
    for (mailbox, uidvalidity), uid in batch.uids.items():
        await _note_uid(session, mailbox, uidvalidity, uid, now)


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
