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
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias

from hub.domain.agencies import is_slug
from hub.domain.request_scope import LawfulBasis, PersonInScope, Question, RequestScope

# The value of a signable document: what canonical JSON (RFC 8785) the hub signs can hold.
JSONValue: TypeAlias = str | int | bool | list["JSONValue"] | dict[str, "JSONValue"] | None

DOCUMENT_TYPE = "marrac-hub/information-request"
DOCUMENT_VERSION = 1

_REFERENCE = re.compile(r"RQ-[0-9]{4}-[0-9]{6,}")


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


# --- what a request's link lets its holder do ---------------------------------------------

# What a link's holder meets: ``ok`` (send a code, see the request, answer), ``answered``
# (already answered: one answer per request), ``locked`` (too many wrong codes: call the
# team) or ``unusable`` (unknown, expired, revoked or closed: one page for all of these,
# so the holder learns nothing about which).
LinkState: TypeAlias = Literal["ok", "answered", "locked", "unusable"]
# The states in which the agency has answered, in any of the ways it may.
ANSWERED_STATES = frozenset(
    {
        RequestState.ANSWERED,
        RequestState.ANSWERED_BY_EMAIL,
        RequestState.DECLINED,
        RequestState.NO_INFORMATION,
    }
)


def link_state(
    *,
    request_state: RequestState | str,
    expires_at: datetime,
    revoked_at: datetime | None,
    locked_at: datetime | None,
    now: datetime,
) -> LinkState:
    """What a link (its expiry, revocation and lock) to a request in ``request_state``
    allows at ``now``. An expired or revoked link says nothing about its request."""
    if revoked_at is not None or expires_at <= now:
        return "unusable"
    if RequestState(request_state) in ANSWERED_STATES:
        return "answered"
    if not is_open(request_state):
        return "unusable"
    if locked_at is not None:
        return "locked"
    return "ok"


def session_state(
    *,
    request_state: RequestState | str,
    expires_at: datetime,
    revoked_at: datetime | None,
    now: datetime,
) -> LinkState:
    """What a session opened with this link's code allows at ``now``. A lock stops more
    codes being tried, not a session whose code was already proved: the lock is against
    guessing, so five wrong codes sent from another browser cannot shut out the agency
    that has signed in. Revoking the link (a withdrawal, a reissue) or its expiry still
    ends the session."""
    return link_state(
        request_state=request_state,
        expires_at=expires_at,
        revoked_at=revoked_at,
        locked_at=None,
        now=now,
    )


def code_pending(*, has_code: bool, code_expires_at: datetime | None, now: datetime) -> bool:
    """Is a one-time code waiting to be entered? Only then does a wrong code cost a try:
    with no code pending (none sent, already used, or expired) no guess can succeed, so
    an old or used code sent again tests nothing."""
    return has_code and code_expires_at is not None and now < code_expires_at


def link_renewable(
    *,
    request_state: RequestState | str,
    expires_at: datetime,
    revoked_at: datetime | None,
    locked_at: datetime | None,
    now: datetime,
) -> bool:
    """May the holder of this link have a fresh one mailed to the agency? Only for a link
    that merely expired, on a request still owed: a revoked link was withdrawn on purpose
    and a locked one stays locked (the agency calls the team)."""
    return revoked_at is None and expires_at <= now and locked_at is None and is_open(request_state)


# --- the signed document -----------------------------------------------------------------


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
    if not is_slug(agency):
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
