"""The rows one intake transaction writes, built in memory before anything is inserted.

Intake assigns every id itself under the intake lock (:mod:`hub.services.intake`), so a
whole batch, including links between its own messages and cases, can be built here as
plain values and then inserted table by table. Personal data is sealed as it goes in:
the case details and each person are sealed JSON; only blind indexes are in clear.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.domain.deadlines import milestone_due, next_action_at, steps_for_milestone
from hub.domain.intake import Decision, Outcome
from hub.domain.referral import Person, Referral, Role
from hub.domain.repeats import EarlierCase, RepeatDecision, identity_key
from hub.mail import ParsedMail, header_block
from hub.mail.rawmail import MAX_HEADER_BYTES
from hub.ports import InboundItem
from hub.services.context import Context

SYSTEM_ACTOR = "system:intake"
# The milestones every new case starts with (the appendix's rhythm: a plan within 48
# hours, a review within two weeks, counted from the referral until a plan is recorded).
FIRST_MILESTONES = ("plan-48h", "review-2w")
# (case id, role, identity index, case ref, received at): a person of an earlier case.
KnownPerson = tuple[int, str, str | None, str, datetime]


@dataclass(frozen=True)
class Incoming:
    """One message of a batch, read, with what intake derives from it before it locks."""

    item: InboundItem
    parsed: ParsedMail
    oversized: bool
    message_id_hash: str
    content_hash: str
    victim_index: str | None
    perpetrator_index: str | None

    @property
    def dedupe_key(self) -> str:
        """Same Message-ID and same content: the same message, whatever its UID."""
        return f"{self.message_id_hash}:{self.content_hash}"


@dataclass(frozen=True)
class NewCase:
    """A case one message opens: its ids, the decision behind it, what it repeats."""

    message: Incoming
    decision: Decision
    case_id: int
    case_ref: str
    inbound_id: int
    repeat: RepeatDecision
    now: datetime

    @property
    def needs_triage(self) -> bool:
        return self.decision.outcome == Outcome.TRIAGE

    @property
    def referral(self) -> Referral:
        return self.message.parsed.referral


@dataclass
class Batch:
    """What one transaction writes, built in memory, inserted table by table."""

    inbound: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    audit: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    # The highest UID committed per (mailbox, UIDVALIDITY).
    uids: dict[tuple[str, int], int] = field(default_factory=dict)

    def note_uid(self, item: InboundItem) -> None:
        """Remember the message's UID, if its source has UIDs (IMAP; Maildir has none)."""
        if item.uid is not None and item.uidvalidity is not None:
            key = (item.mailbox, item.uidvalidity)
            self.uids[key] = max(self.uids.get(key, 0), item.uid)


def identity_index(ctx: Context, person: Person | None) -> str | None:
    """The blind index of a person's name and date of birth (``None`` lacking either)."""
    if person is None:
        return None
    key = identity_key(person.name, person.date_of_birth)
    return ctx.indexer.blind("identity", key) if key else None


def match_earlier(
    known: list[KnownPerson], victim_index: str | None, perpetrator_index: str | None
) -> list[EarlierCase]:
    """The earlier cases that share the victim or the perpetrator, and which of them."""
    found: dict[int, EarlierCase] = {}
    for case_id, role, index, ref, received_at in known:
        if index is None or index not in (victim_index, perpetrator_index):
            continue
        earlier = found.get(case_id) or EarlierCase(case_id, ref, received_at, False, False)
        if role == Role.VICTIM.value and index == victim_index:
            earlier = replace(earlier, same_victim=True)
        if role == Role.PERPETRATOR.value and index == perpetrator_index:
            earlier = replace(earlier, same_perpetrator=True)
        found[case_id] = earlier
    return list(found.values())


def people_of(case: NewCase) -> list[KnownPerson]:
    """The new case's victim and perpetrator, for later messages of the same batch."""
    message = case.message
    return [
        (case.case_id, Role.VICTIM.value, message.victim_index, case.case_ref, case.now),
        (case.case_id, Role.PERPETRATOR.value, message.perpetrator_index, case.case_ref, case.now),
    ]


def inbound_row(
    ctx: Context,
    message: Incoming,
    decision: Decision,
    ids: tuple[int, int | None],
    duplicate_of: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The record of one message (``ids``: its own and its case's): the raw mail and its
    envelope sealed, the outcome in clear."""
    item, parsed = message.item, message.parsed
    inbound_id, case_id = ids
    kept, how = kept_raw(ctx, item.raw, decision)
    meta = {
        "message_id": parsed.message_id,
        "sender": parsed.sender,
        "subject": parsed.subject,
        "machine_reason": parsed.machine_reason,
        **how,
    }
    return dict(
        id=inbound_id,
        source_key=item.source_key,
        mailbox=item.mailbox,
        uidvalidity=item.uidvalidity,
        uid=item.uid,
        message_id_hash=message.message_id_hash,
        content_hash=message.content_hash,
        # A duplicate does not claim the key: the first copy holds it.
        dedupe_key=None if duplicate_of is not None else message.dedupe_key,
        size=len(item.raw),
        raw_sealed=ctx.sealer.seal(kept),
        meta_sealed=ctx.sealer.seal_json(meta),
        received_at=now,
        outcome=decision.outcome.value,
        reason=decision.reason[:300],
        case_id=case_id,
        duplicate_of_id=duplicate_of,
    )


def kept_raw(ctx: Context, raw: bytes, decision: Decision) -> tuple[bytes, dict[str, object]]:
    """What is sealed of a message, and a note of it for the record's envelope.

    Quarantined mail over ``[intake] quarantine_keep_bytes`` is kept as its header
    section and the SHA-256 of the whole (the quarantine folder of the mailbox keeps the
    original): 40 MB of a stranger's junk is not worth sealing into the database."""
    if decision.outcome != Outcome.QUARANTINE:
        return raw, {}
    if len(raw) <= ctx.settings.intake.quarantine_keep_bytes:
        return raw, {}
    note = {"kept": "headers", "sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)}
    return header_block(raw)[:MAX_HEADER_BYTES], note


def audit_row(
    decision: Decision, inbound_id: int, case_ref: str | None
) -> tuple[str, str, str, dict[str, Any]]:
    """The audit event of one message's outcome, on its case or else on the message."""
    return (
        SYSTEM_ACTOR,
        f"intake.{decision.outcome.value}",
        case_ref or f"inbound:{inbound_id}",
        {"inbound": inbound_id, "reason": decision.reason[:200]},
    )


def add_case(ctx: Context, batch: Batch, case: NewCase) -> None:
    """The case, its people and its first milestones."""
    batch.cases.append(_case_row(ctx, case))
    batch.persons += _person_rows(ctx, case)
    batch.milestones += _milestone_rows(ctx, case)


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


def _case_row(ctx: Context, case: NewCase) -> dict[str, Any]:
    referral, repeat = case.referral, case.repeat
    return dict(
        id=case.case_id,
        ref=case.case_ref,
        status="needs-triage" if case.needs_triage else "open",
        received_at=case.now,
        force_reference=_cut(referral.force_reference, 100),
        risk_level=_cut(referral.risk_level, 40),
        division=_cut(referral.division, 100),
        area=_cut(referral.area, 100),
        source=referral.source,
        repeat_of_id=repeat.repeat_of.case_id if repeat.repeat_of else None,
        linked_refs=list(repeat.linked),
        problems=list(case.decision.problems),
        details_sealed=ctx.sealer.seal_json(_details_json(case.message.parsed, referral)),
        coordinator=None,
    )


def _person_rows(ctx: Context, case: NewCase) -> list[dict[str, Any]]:
    """Victim, perpetrator, then the children, each sealed, with its blind index."""
    referral, message = case.referral, case.message
    people: list[tuple[Person, str | None]] = []
    if referral.victim:
        people.append((referral.victim, message.victim_index))
    if referral.perpetrator:
        people.append((referral.perpetrator, message.perpetrator_index))
    people += [(child, identity_index(ctx, child)) for child in referral.children]
    return [
        dict(
            case_id=case.case_id,
            role=person.role.value,
            ordinal=ordinal,
            sealed=ctx.sealer.seal_json(_person_json(person)),
            identity_index=index,
        )
        for ordinal, (person, index) in enumerate(people)
    ]


def _milestone_rows(ctx: Context, case: NewCase) -> list[dict[str, Any]]:
    rows = []
    for kind in FIRST_MILESTONES:
        due = milestone_due(kind, case.now, ctx.policy, ctx.calendar)
        steps = steps_for_milestone(kind, due, ctx.policy)
        rows.append(
            dict(
                case_id=case.case_id,
                kind=kind,
                anchor_at=case.now,
                due_at=due,
                state="pending",
                met_at=None,
                next_action_at=next_action_at(steps, set()) or due,
            )
        )
    return rows


def _person_json(p: Person) -> dict[str, object]:
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
