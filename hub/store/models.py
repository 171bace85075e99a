"""Tables. Personal data lives only in ``*_sealed`` columns (SecretBox ciphertext).

Plain columns hold what the hub must search, sort or count without the data key:
references, states, times, keyed hashes. A column that could carry a name, address or
free text is sealed, whatever it is called.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which has no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the hub stores UTC-aware times only")
        from datetime import UTC

        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite autoincrement needs INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """The Core table behind a mapped class, for bulk ``insert(...)`` of plain rows
    (``__table__`` is typed as any FROM clause; for a declarative class it is a Table)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class MailboxState(Base):
    """Per mailbox: the UIDVALIDITY seen and the highest UID committed (RFC 3501 2.3.1.1)."""

    __tablename__ = "mailbox_state"
    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboundMessage(Base):
    """Every message intake ever read, whatever became of it.

    Ids (here and on ``cases``) are assigned by intake under its lock (max + 1), so a
    whole batch, with links between its own rows, is known before it is inserted. Every
    insert into these two tables must go through intake or the replies filer."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("source_key", name="uq_inbound_messages_source_key"),
        UniqueConstraint("dedupe_key", name="uq_inbound_messages_dedupe_key"),
        Index("ix_inbound_messages_outcome_received", "outcome", "received_at"),
        Index("ix_inbound_messages_message_id_hash", "message_id_hash"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Where it came from: "imap:<mailbox>:<uidvalidity>:<uid>" or "maildir:<name>".
    source_key: Mapped[str] = mapped_column(String(400))
    mailbox: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    # SHA-256 of the Message-ID (or of "" when there is none) and of the raw bytes.
    message_id_hash: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    # message_id_hash + content_hash for the first copy of a message; NULL for copies.
    dedupe_key: Mapped[str | None] = mapped_column(String(130))
    size: Mapped[int] = mapped_column(BigInteger)
    raw_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Sender, subject, Message-ID, auth results: sealed, they can name people.
    meta_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # case | triage | duplicate | quarantine | machine
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(300))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_status_received", "status", "received_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(40), unique=True)
    # open | needs-triage (later: allocated, closed ...)
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    force_reference: Mapped[str | None] = mapped_column(String(100))
    risk_level: Mapped[str | None] = mapped_column(String(40))
    division: Mapped[str | None] = mapped_column(String(100))
    area: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    linked_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Problems are written without personal data ("victim date of birth missing").
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Referrer, incident, summary, forwarding sender, attachment list: sealed JSON.
    details_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    coordinator: Mapped[str | None] = mapped_column(String(320))
    allocated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    plan_agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_risk: Mapped[str | None] = mapped_column(String(40))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the case closed can name people: sealed.
    closure_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class Person(Base):
    """One ME of one case; everything that identifies them is sealed."""

    __tablename__ = "persons"
    __table_args__ = (Index("ix_persons_identity_index", "identity_index"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Keyed HMAC of normalised name + date of birth; NULL when either is unknown.
    identity_index: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """Mail waiting to go out: written in the transaction that decided to send it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_state_next_attempt", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # e.g. "ack:<inbound id>:<recipient hash>", "alert:new-case:<case ref>:<recipient hash>"
    dedupe_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    subject_ref: Mapped[str | None] = mapped_column(String(40))
    # The Message-ID is generated once and kept, so a resend is recognisable as such.
    message_id: Mapped[str] = mapped_column(String(200))
    recipient_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    message_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # pending | sending | sent | failed | parked (an unexpected error: see parked items)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A random token written at each claim: only the holder of the latest claim settles
    # the row, so a sender that outlived its lease cannot overwrite its successor's work.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    server_reply: Mapped[str | None] = mapped_column(Text)


class ParkedItem(Base):
    """Work that failed unexpectedly, kept with where and why, for `parked retry`."""

    __tablename__ = "parked"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    stage: Mapped[str] = mapped_column(String(40))
    item_key: Mapped[str] = mapped_column(String(400))
    error: Mapped[str] = mapped_column(Text)
    payload_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # parked | retried | resolved
    state: Mapped[str] = mapped_column(String(10), default="parked")
    retried_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """An append-only keyed hash chain of who did what to which record."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    object_ref: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The fingerprint of the token key whose audit-chain subkey made ``hash`` (an HMAC);
    # None only for an event the migration to keyed links found after a break.
    key_id: Mapped[str | None] = mapped_column(String(16))


class Agency(Base):
    """A service in the periphery team (school, GP, health visitor...). Its contact
    addresses are organisational mailboxes, not personal data of the MEs."""

    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    shares_systems: Mapped[bool] = mapped_column(default=False)
    response_hours: Mapped[int] = mapped_column(Integer, default=72)
    # Optional keys (base64): seal the full request to the agency; verify its answers.
    box_public_key: Mapped[str | None] = mapped_column(String(100))
    verify_key: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InfoRequest(Base):
    """An information request to one agency about one case (process step 7)."""

    __tablename__ = "info_requests"
    __table_args__ = (
        Index("ix_info_requests_case", "case_id"),
        Index("ix_info_requests_next_action", "next_action_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(40), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    state: Mapped[str] = mapped_column(String(30))
    urgency: Mapped[str] = mapped_column(String(20), default="standard")
    template: Mapped[str | None] = mapped_column(String(80))
    lawful_basis: Mapped[str] = mapped_column(String(400))
    requested_by: Mapped[str] = mapped_column(String(320))
    authorised_by: Mapped[str] = mapped_column(String(320))
    # The signed request envelope (names people in scope): sealed.
    document_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    signature_kid: Mapped[str] = mapped_column(String(40))
    signature_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How due_at was set: "explicit" (--due/--within), "agency" (its response time) or
    # "policy" (the urgency's default, recomputed when the bank holidays change).
    due_rule: Mapped[str] = mapped_column(String(20), default="explicit")


class RequestLink(Base):
    """A capability link for one request. Only the keyed hash of the token is stored."""

    __tablename__ = "request_links"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("info_requests.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_tries: Mapped[int] = mapped_column(Integer, default=0)
    codes_sent: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Answer(Base):
    """An agency's answer, sealed on arrival to the hub's X25519 public key."""

    __tablename__ = "answers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("info_requests.id"), index=True)
    # "link:<request id>" (one answer per request through links) or "email:<inbound id>".
    dedupe_key: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    # answered | declined | no-information | email
    kind: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    receipt_digest: Mapped[str | None] = mapped_column(String(64))


class UnmatchedReply(Base):
    """A reply to the replies mailbox that names no request we can verify: kept for a
    person to file, never dropped."""

    __tablename__ = "unmatched_replies"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Milestone(Base):
    """A case milestone (report appendix): plan in 48 h, review in 2 weeks, closure
    notices in 24 h. ``next_action_at`` is when the sweep must look at it again."""

    __tablename__ = "milestones"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", name="uq_milestones_case_kind"),
        Index("ix_milestones_next_action", "next_action_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(40))
    anchor_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # pending | met | missed-then-met | missed
    state: Mapped[str] = mapped_column(String(20), default="pending")
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertStep(Base):
    """The ledger of warnings, chases and escalations: each (subject, step) exists once,
    written in the same transaction as its mail, so no restart or second hub sends one
    twice, and a step whose time has come is never skipped."""

    __tablename__ = "alert_steps"
    __table_args__ = (UniqueConstraint("subject", "step", name="uq_alert_steps_subject_step"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # "milestone:<id>" or "request:<id>"
    subject: Mapped[str] = mapped_column(String(60))
    subject_ref: Mapped[str | None] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the sweep queued it (its mail's delivery time is on the outbox rows).
    done_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # sent | cancelled
    outcome: Mapped[str] = mapped_column(String(12), default="sent")
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)


class HubState(Base):
    """Small facts the hub keeps about itself (e.g. the bank-holiday fingerprint that
    open deadlines were computed with)."""

    __tablename__ = "hub_state"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(String(400))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
