"""Information requests to agencies without shared IT (evaluation report, 5.7).

A case co-ordinator asks a school, a GP or a health visitor what it knows about the people
in a case. The request names only the people and the fields the agency needs (no blanket
sharing), states its lawful basis and who authorised it, and is due back by a set time.
The agency opens a link, proves it holds its registered mailbox with a one-time code, and
answers, declines or says it holds nothing; or it simply replies to the email.

The lifecycle is an explicit state machine so that every change of state is one named event
checked against one table, and the services never invent a transition::

    draft --send--> sent --open--> opened --answer--> answered
                     |               |
                     +---------------+--answer_by_email--> answered-by-email
                     |               +--decline----------> declined
                     |               +--no_information---> no-information
                     |               +--withdraw---------> withdrawn
                     |               +--expire-----------> expired
                     |               +--reissue----------> sent  (a fresh link)
    draft --withdraw--> withdrawn
    expired --answer_by_email--> answered-by-email   (a late reply is still kept)
    expired --reissue--> sent                        (ask again with a fresh link)

"Overdue" is not a state: it is what a sent or opened request is once its due time has
passed, worked out from ``now`` each time (so moving the due date needs no transition).

Nothing here does I/O or reads the clock; the time is always an argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol, TypeAlias, TypeVar

from hub.domain.referral import Role

# The value of a signable document: what canonical JSON (RFC 8785) the hub signs can hold.
JSONValue: TypeAlias = str | int | bool | None | list["JSONValue"] | dict[str, "JSONValue"]

DOCUMENT_TYPE = "marrac-hub/information-request"
DOCUMENT_VERSION = 1

# The basis the pilot's information-sharing agreement relies on; a request may state another.
DEFAULT_LAWFUL_BASIS = "UK GDPR Art. 6(1)(e); DPA 2018 Part 3; s.115 Crime and Disorder Act 1998"

_REFERENCE = re.compile(r"RQ-[0-9]{4}-[0-9]{6,}")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class RequestState(StrEnum):
    """The stored state of an information request."""

    DRAFT = "draft"  # being written; nothing has left the hub
    SENT = "sent"  # mailed; the agency has not opened the link yet
    OPENED = "opened"  # the agency opened the link
    ANSWERED = "answered"  # answered through the link
    ANSWERED_BY_EMAIL = "answered-by-email"  # answered by replying to the mail
    DECLINED = "declined"  # the agency refused (with its reason)
    NO_INFORMATION = "no-information"  # the agency holds nothing on these people
    WITHDRAWN = "withdrawn"  # the co-ordinator cancelled it
    EXPIRED = "expired"  # it lapsed unanswered after chasing


class RequestEvent(StrEnum):
    """What can happen to a request."""

    SEND = "send"
    OPEN = "open"
    ANSWER = "answer"
    ANSWER_BY_EMAIL = "answer_by_email"
    DECLINE = "decline"
    NO_INFORMATION = "no_information"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"
    REISSUE = "reissue"


S, E = RequestState, RequestEvent

# The only transitions there are. An answer through the link needs the link opened first
# (the one-time code is asked for on opening); an emailed answer, a refusal or "nothing
# held" can arrive by mail at any point after sending, and is recorded by the co-ordinator.
TRANSITIONS: Mapping[tuple[RequestState, RequestEvent], RequestState] = MappingProxyType(
    {
        (S.DRAFT, E.SEND): S.SENT,
        (S.DRAFT, E.WITHDRAW): S.WITHDRAWN,
        (S.SENT, E.OPEN): S.OPENED,
        (S.SENT, E.ANSWER_BY_EMAIL): S.ANSWERED_BY_EMAIL,
        (S.SENT, E.DECLINE): S.DECLINED,
        (S.SENT, E.NO_INFORMATION): S.NO_INFORMATION,
        (S.SENT, E.WITHDRAW): S.WITHDRAWN,
        (S.SENT, E.EXPIRE): S.EXPIRED,
        (S.SENT, E.REISSUE): S.SENT,
        # Opening the link again (another visit, another code) changes nothing.
        (S.OPENED, E.OPEN): S.OPENED,
        (S.OPENED, E.ANSWER): S.ANSWERED,
        (S.OPENED, E.ANSWER_BY_EMAIL): S.ANSWERED_BY_EMAIL,
        (S.OPENED, E.DECLINE): S.DECLINED,
        (S.OPENED, E.NO_INFORMATION): S.NO_INFORMATION,
        (S.OPENED, E.WITHDRAW): S.WITHDRAWN,
        (S.OPENED, E.EXPIRE): S.EXPIRED,
        (S.OPENED, E.REISSUE): S.SENT,
        # Information is never turned away: a reply after expiry is recorded, and the
        # co-ordinator may ask again (a fresh link and a new due time).
        (S.EXPIRED, E.ANSWER_BY_EMAIL): S.ANSWERED_BY_EMAIL,
        (S.EXPIRED, E.REISSUE): S.SENT,
    }
)

# The agency owes an answer and the hub chases it.
OPEN_STATES = frozenset({S.SENT, S.OPENED})
# The agency owes nothing more: chasing stops and no due time applies. Only ``expired``
# has a way back (a late emailed answer, or a reissue); the others are the end.
FINAL_STATES = frozenset(
    {S.ANSWERED, S.ANSWERED_BY_EMAIL, S.DECLINED, S.NO_INFORMATION, S.WITHDRAWN, S.EXPIRED}
)

del S, E


class InvalidTransition(Exception):
    """An event that the request's state does not allow (a bug or a race, never input)."""

    def __init__(self, state: RequestState, event: RequestEvent) -> None:
        allowed = sorted(allowed_events(state))
        if allowed:
            why = f"from '{state}' only {', '.join(allowed)} may happen"
        else:
            why = f"'{state}' is final"
        super().__init__(f"cannot {event} a request that is {state}: {why}")
        self.state = state
        self.event = event


def allowed_events(state: RequestState | str) -> frozenset[RequestEvent]:
    """The events the table allows from ``state``."""
    state = RequestState(state)
    return frozenset(event for (src, event) in TRANSITIONS if src is state)


def transition(state: RequestState | str, event: RequestEvent | str) -> RequestState:
    """The state after ``event``; :class:`InvalidTransition` if the table has no such edge.

    Accepts the stored strings as well as the enums (an unknown string is a ValueError).
    """
    state, event = RequestState(state), RequestEvent(event)
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


def is_open(state: RequestState | str) -> bool:
    """Does the hub still chase this request? An answer of any kind cancels chasing."""
    return RequestState(state) in OPEN_STATES


def is_final(state: RequestState | str) -> bool:
    """Does the agency owe nothing more on this request?"""
    return RequestState(state) in FINAL_STATES


class HasDeadline(Protocol):
    """Anything with a request's state and due time: a stored row or a value here."""

    @property
    def state(self) -> str: ...

    @property
    def due_at(self) -> datetime | None: ...


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (the hub keeps time in UTC)")
    return value


def is_overdue(request: HasDeadline, now: datetime) -> bool:
    """Past its due time and still open. Due exactly ``now`` is not yet overdue."""
    if request.due_at is None or not is_open(request.state):
        return False
    return _aware("now", now) > _aware("due_at", request.due_at)


def due_at(sent_at: datetime, within: timedelta) -> datetime:
    """When a request sent at ``sent_at`` is due back, ``within`` later (in UTC)."""
    if within <= timedelta(0):
        raise ValueError("a request must allow some time to answer")
    return (_aware("sent_at", sent_at) + within).astimezone(UTC)


# --- what a request holds ----------------------------------------------------------------


class ScopeError(ValueError):
    """A request's scope would share more than it names, or names nobody."""


@dataclass(frozen=True)
class Question:
    """One question to the agency; ``id`` ties the answer to it."""

    id: str
    text: str

    def __post_init__(self) -> None:
        if not self.id or not self.text.strip():
            raise ValueError("a question needs an id and some text")


@dataclass(frozen=True)
class Answer:
    """The agency's answer to one question.

    ``known``: whether the person is known to the agency (None: the agency did not say);
    ``last_contact``: the agency's last contact with them, if it gave one.
    """

    question_id: str
    known: bool | None
    last_contact: date | None
    text: str


@dataclass(frozen=True)
class PersonInScope:
    """One person the request is about, and exactly what is shared about them.

    Name, role and date of birth identify the person to the agency; ``fields`` names any
    further fields shared (for example ``("address",)`` to a GP, ``("school",)`` for a
    child), and ``details`` holds their values, already cut down with :func:`minimise`.
    """

    role: Role
    name: str
    date_of_birth: date | None
    fields: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.fields, str):
            raise TypeError("fields is a sequence of field names, not one string")
        extra = set(self.details) - set(self.fields)
        if extra:
            raise ScopeError(f"details share fields outside the scope: {', '.join(sorted(extra))}")


@dataclass(frozen=True)
class RequestScope:
    """The people a request is about. Nobody else's data goes to the agency."""

    persons: tuple[PersonInScope, ...]

    def __post_init__(self) -> None:
        if not self.persons:
            raise ScopeError("a request must name at least one person")


@dataclass(frozen=True)
class LawfulBasis:
    """The legal ground for sharing, stated on every request."""

    text: str = DEFAULT_LAWFUL_BASIS

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a lawful basis cannot be blank")


V = TypeVar("V")


def minimise(person: Mapping[str, V], fields: Sequence[str]) -> dict[str, V]:
    """Only the named fields of ``person``, in the order named (data minimisation,
    UK GDPR Art. 5(1)(c)). Fields the person lacks are left out, never invented."""
    if isinstance(fields, str):
        raise TypeError("fields is a sequence of field names, not one string")
    return {name: person[name] for name in fields if name in person}


def request_reference(year: int, number: int) -> str:
    """A request's human reference, e.g. ``RQ-2026-000042``."""
    if not 1000 <= year <= 9999 or number < 1:
        raise ValueError(f"bad request reference parts: year {year}, number {number}")
    return f"RQ-{year:04d}-{number:06d}"


def _utc_z(name: str, value: datetime) -> str:
    # Whole seconds in UTC with "Z": one spelling per instant, for signing.
    return _aware(name, value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _person(person: PersonInScope) -> JSONValue:
    return {
        "role": str(person.role),
        "name": person.name,
        "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else None,
        "details": {name: person.details[name] for name in person.fields if name in person.details},
    }


def _questions(questions: Iterable[Question]) -> list[JSONValue]:
    listed = list(questions)
    if not listed:
        raise ValueError("a request must ask at least one question")
    ids = [q.id for q in listed]
    if len(set(ids)) != len(ids):
        raise ValueError("question ids must be unique within a request")
    return [{"id": q.id, "text": q.text} for q in listed]


def request_document(
    *,
    reference: str,
    case_ref: str,
    agency: str,
    requester: str,
    lawful_basis: LawfulBasis,
    authorised_by: str,
    due_at: datetime,
    scope: RequestScope,
    questions: Sequence[Question],
    issued_at: datetime,
) -> dict[str, JSONValue]:
    """The request as the hub signs and sends it: plain JSON values only.

    ``agency`` is the agency's slug from the directory; ``requester`` the co-ordinator
    asking, ``authorised_by`` who approved the sharing. Times are whole seconds in UTC
    (``2026-03-14T09:00:00Z``); sub-second parts are dropped.
    """
    if not _REFERENCE.fullmatch(reference):
        raise ValueError(f"request reference {reference!r} is not like RQ-2026-000042")
    if not _SLUG.fullmatch(agency):
        raise ValueError(f"agency {agency!r} is not a directory slug")
    for name, value in (("case_ref", case_ref), ("requester", requester)):
        if not value.strip():
            raise ValueError(f"{name} cannot be blank")
    if not authorised_by.strip():
        raise ValueError("sharing must be authorised by someone (authorised_by is blank)")
    if _aware("due_at", due_at) <= _aware("issued_at", issued_at):
        raise ValueError("a request cannot be due before it is issued")
    return {
        "type": DOCUMENT_TYPE,
        "version": DOCUMENT_VERSION,
        "reference": reference,
        "case_ref": case_ref,
        "agency": agency,
        "requester": requester,
        "authorised_by": authorised_by,
        "lawful_basis": lawful_basis.text,
        "issued_at": _utc_z("issued_at", issued_at),
        "due_at": _utc_z("due_at", due_at),
        "persons": [_person(p) for p in scope.persons],
        "questions": _questions(questions),
    }
