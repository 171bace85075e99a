"""Information requests: the state machine, deadlines, data minimisation, the document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from hub.domain.referral import Role
from hub.domain.request_scope import (
    DEFAULT_LAWFUL_BASIS,
    Answer,
    LawfulBasis,
    PersonInScope,
    Question,
    RequestScope,
    ScopeError,
    minimise,
)
from hub.domain.requests import (
    FINAL_STATES,
    OPEN_STATES,
    TRANSITIONS,
    InvalidTransition,
    JSONValue,
    RequestEvent,
    RequestState,
    allowed_events,
    due_at,
    is_final,
    is_open,
    is_overdue,
    link_renewable,
    link_state,
    request_document,
    request_reference,
    transition,
)

S, E = RequestState, RequestEvent

# The whole table, written out again by hand: a change to the rules must change both.
ALLOWED = [
    (S.DRAFT, E.SEND, S.SENT),
    (S.DRAFT, E.WITHDRAW, S.WITHDRAWN),
    (S.SENT, E.OPEN, S.OPENED),
    (S.SENT, E.ANSWER_BY_EMAIL, S.ANSWERED_BY_EMAIL),
    (S.SENT, E.DECLINE, S.DECLINED),
    (S.SENT, E.NO_INFORMATION, S.NO_INFORMATION),
    (S.SENT, E.WITHDRAW, S.WITHDRAWN),
    (S.SENT, E.EXPIRE, S.EXPIRED),
    (S.SENT, E.REISSUE, S.SENT),
    (S.OPENED, E.OPEN, S.OPENED),
    (S.OPENED, E.ANSWER, S.ANSWERED),
    (S.OPENED, E.ANSWER_BY_EMAIL, S.ANSWERED_BY_EMAIL),
    (S.OPENED, E.DECLINE, S.DECLINED),
    (S.OPENED, E.NO_INFORMATION, S.NO_INFORMATION),
    (S.OPENED, E.WITHDRAW, S.WITHDRAWN),
    (S.OPENED, E.EXPIRE, S.EXPIRED),
    (S.OPENED, E.REISSUE, S.SENT),
    (S.EXPIRED, E.ANSWER_BY_EMAIL, S.ANSWERED_BY_EMAIL),
    (S.EXPIRED, E.REISSUE, S.SENT),
]


@pytest.mark.parametrize(("state", "event", "after"), ALLOWED)
def test_every_allowed_transition(
    state: RequestState, event: RequestEvent, after: RequestState
) -> None:
    assert transition(state, event) is after
    assert transition(str(state), str(event)) is after  # as stored in the database


def test_the_table_has_exactly_the_allowed_transitions() -> None:
    assert {(s, e): a for s, e, a in ALLOWED} == dict(TRANSITIONS)


FORBIDDEN = [
    (s, e)
    for s in RequestState
    for e in RequestEvent
    if (s, e) not in {(a, b) for a, b, _ in ALLOWED}
]


@pytest.mark.parametrize(("state", "event"), FORBIDDEN)
def test_every_other_transition_is_refused(state: RequestState, event: RequestEvent) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(state, event)
    assert caught.value.state is state and caught.value.event is event


@pytest.mark.parametrize(
    ("state", "event", "message"),
    [
        # The link must be opened (and the code checked) before an answer through it.
        (S.SENT, E.ANSWER, "cannot answer a request that is sent: from 'sent' only "),
        (S.DRAFT, E.OPEN, "cannot open a request that is draft"),
        (S.DRAFT, E.EXPIRE, "only send, withdraw may happen"),
        (S.ANSWERED, E.WITHDRAW, "cannot withdraw a request that is answered: 'answered' is final"),
        (S.WITHDRAWN, E.SEND, "'withdrawn' is final"),
        (S.DECLINED, E.ANSWER_BY_EMAIL, "'declined' is final"),
        (S.EXPIRED, E.ANSWER, "from 'expired' only answer_by_email, reissue may happen"),
        (S.ANSWERED_BY_EMAIL, E.REISSUE, "final"),
        (S.NO_INFORMATION, E.OPEN, "final"),
    ],
)
def test_forbidden_transitions_say_why(
    state: RequestState, event: RequestEvent, message: str
) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(state, event)
    assert message in str(caught.value)


def test_unknown_states_and_events_are_not_silently_accepted() -> None:
    with pytest.raises(ValueError):
        transition("overdue", E.ANSWER)  # overdue is derived, never stored
    with pytest.raises(ValueError):
        transition(S.SENT, "answered")


def test_a_whole_lifecycle() -> None:
    state = S.DRAFT
    for event in (E.SEND, E.OPEN, E.OPEN, E.ANSWER):
        state = transition(state, event)
    assert state is S.ANSWERED and is_final(state) and not is_open(state)


def test_open_and_final_states_partition_everything_but_draft() -> None:
    assert OPEN_STATES == {S.SENT, S.OPENED}
    assert OPEN_STATES.isdisjoint(FINAL_STATES)
    assert OPEN_STATES | FINAL_STATES | {S.DRAFT} == set(RequestState)
    assert not is_open(S.DRAFT) and not is_final(S.DRAFT)


def test_an_answer_of_any_kind_cancels_chasing() -> None:
    for event in (E.ANSWER_BY_EMAIL, E.DECLINE, E.NO_INFORMATION, E.WITHDRAW, E.EXPIRE):
        assert not is_open(transition(S.SENT, event))
    assert not is_open(transition(S.OPENED, E.ANSWER))
    assert is_open(transition(S.SENT, E.REISSUE))


def test_final_states_are_dead_ends_except_expired() -> None:
    for state in FINAL_STATES - {S.EXPIRED}:
        assert allowed_events(state) == frozenset(), state
    assert allowed_events(S.EXPIRED) == {E.ANSWER_BY_EMAIL, E.REISSUE}
    for state in OPEN_STATES | {S.DRAFT}:
        assert allowed_events(state)


def test_stored_values_are_the_documented_spellings() -> None:
    assert [str(s) for s in RequestState] == [
        "draft",
        "sent",
        "opened",
        "answered",
        "answered-by-email",
        "declined",
        "no-information",
        "withdrawn",
        "expired",
    ]
    assert "overdue" not in {str(s) for s in RequestState}


# --- deadlines ---------------------------------------------------------------------------

NOW = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    state: str
    due_at: datetime | None


def test_due_exactly_now_is_not_overdue_one_second_later_is() -> None:
    row = Row(S.SENT, NOW)
    assert not is_overdue(row, NOW)
    assert is_overdue(row, NOW + timedelta(seconds=1))
    assert not is_overdue(row, NOW - timedelta(seconds=1))


def test_only_open_requests_are_overdue() -> None:
    later = NOW + timedelta(days=3)
    for state in RequestState:
        assert is_overdue(Row(state, NOW), later) is (state in OPEN_STATES), state


def test_a_request_without_a_due_time_is_never_overdue() -> None:
    assert not is_overdue(Row(S.SENT, None), NOW)


def test_overdue_compares_instants_not_wall_times() -> None:
    due_in_london_summer = datetime(2026, 6, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    row = Row("opened", due_in_london_summer)  # 09:00 UTC
    assert not is_overdue(row, datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    assert is_overdue(row, datetime(2026, 6, 1, 9, 0, 1, tzinfo=UTC))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_overdue(Row(S.SENT, datetime(2026, 3, 14, 9, 0)), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2026, 3, 14, 9, 0), timedelta(days=5))


def test_due_at_adds_the_allowed_time_in_utc() -> None:
    sent = datetime(2026, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert due_at(sent, timedelta(days=5)) == datetime(2026, 3, 19, 8, 30, tzinfo=UTC)
    assert due_at(sent, timedelta(days=5)).tzinfo is UTC
    with pytest.raises(ValueError, match="some time"):
        due_at(NOW, timedelta(0))


# --- minimisation and values -------------------------------------------------------------

VICTIM = {
    "name": "Emma Clarke",
    "date_of_birth": "1990-04-01",
    "address": "14 Larch Street, Preston PR1 9ZZ",
    "phone": "07700 900123",
    "safe_to_contact": "No",
}


def test_minimise_keeps_only_the_named_fields_in_order() -> None:
    assert minimise(VICTIM, ["address", "name"]) == {
        "address": "14 Larch Street, Preston PR1 9ZZ",
        "name": "Emma Clarke",
    }
    assert list(minimise(VICTIM, ("phone", "name"))) == ["phone", "name"]


def test_minimise_never_invents_fields_and_leaves_the_input_alone() -> None:
    before = dict(VICTIM)
    assert minimise(VICTIM, ["school", "name"]) == {"name": "Emma Clarke"}
    assert minimise(VICTIM, []) == {}
    assert VICTIM == before


def test_minimise_refuses_a_bare_string_for_fields() -> None:
    with pytest.raises(TypeError, match="not one string"):
        minimise(VICTIM, "address")


def test_a_person_in_scope_cannot_carry_details_outside_its_fields() -> None:
    with pytest.raises(ScopeError, match="outside the scope: phone"):
        PersonInScope(
            Role.VICTIM, "Emma Clarke", date(1990, 4, 1), ("address",), {"phone": "07700"}
        )
    with pytest.raises(TypeError):
        PersonInScope(Role.VICTIM, "Emma Clarke", None, "address")  # type: ignore[arg-type]


def test_a_scope_names_at_least_one_person() -> None:
    with pytest.raises(ScopeError, match="at least one person"):
        RequestScope(())


def test_values_are_frozen_and_checked() -> None:
    question = Question("q1", "Is the child known to you?")
    with pytest.raises(AttributeError):
        question.text = "Tell us everything"  # type: ignore[misc]
    with pytest.raises(ValueError):
        Question("", "text")
    with pytest.raises(ValueError):
        Question("q1", "   ")
    answer = Answer("q1", known=None, last_contact=date(2026, 1, 9), text="Attends daily.")
    assert answer.known is None
    assert LawfulBasis().text == DEFAULT_LAWFUL_BASIS
    assert "s.115 Crime and Disorder Act 1998" in DEFAULT_LAWFUL_BASIS
    with pytest.raises(ValueError):
        LawfulBasis(" ")


def test_request_references_are_zero_padded() -> None:
    assert request_reference(2026, 42) == "RQ-2026-000042"
    assert request_reference(2026, 1234567) == "RQ-2026-1234567"
    with pytest.raises(ValueError):
        request_reference(2026, 0)


# --- the signable document ---------------------------------------------------------------

CHILD = PersonInScope(
    role=Role.CHILD,
    name="Lily Clarke",
    date_of_birth=date(2018, 5, 2),
    fields=("school",),
    details=minimise({"school": "St Aidan's Primary", "address": "14 Larch St"}, ["school"]),
)
MOTHER = PersonInScope(role=Role.VICTIM, name="Emma Clarke", date_of_birth=None)
QUESTIONS = (
    Question("q1", "Is the child known to you?"),
    Question("q2", "Any safeguarding concerns recorded since September?"),
)


def _document(**overrides: object) -> dict[str, JSONValue]:
    args: dict[str, object] = {
        "reference": "RQ-2026-000042",
        "case_ref": "MR-2026-000123",
        "agency": "st-aidans-primary",
        "requester": "Jo Patel (case co-ordinator)",
        "lawful_basis": LawfulBasis(),
        "authorised_by": "Sam Reid (team leader)",
        "due_at": datetime(2026, 3, 19, 9, 0, 0, 750_000, tzinfo=UTC),
        "scope": RequestScope((CHILD, MOTHER)),
        "questions": QUESTIONS,
        "issued_at": datetime(2026, 3, 14, 10, 30, tzinfo=timezone(timedelta(hours=1))),
    }
    args.update(overrides)
    return request_document(**args)  # type: ignore[arg-type]


def test_the_request_document_holds_what_the_agency_needs_and_no_more() -> None:
    assert _document() == {
        "type": "marrac-hub/information-request",
        "version": 1,
        "reference": "RQ-2026-000042",
        "case_ref": "MR-2026-000123",
        "agency": "st-aidans-primary",
        "requester": "Jo Patel (case co-ordinator)",
        "authorised_by": "Sam Reid (team leader)",
        "lawful_basis": DEFAULT_LAWFUL_BASIS,
        "issued_at": "2026-03-14T09:30:00Z",
        "due_at": "2026-03-19T09:00:00Z",
        "persons": [
            {
                "role": "child",
                "name": "Lily Clarke",
                "date_of_birth": "2018-05-02",
                "details": {"school": "St Aidan's Primary"},
            },
            {"role": "victim", "name": "Emma Clarke", "date_of_birth": None, "details": {}},
        ],
        "questions": [
            {"id": "q1", "text": "Is the child known to you?"},
            {"id": "q2", "text": "Any safeguarding concerns recorded since September?"},
        ],
    }


def test_the_request_document_is_plain_json_of_the_kinds_the_hub_signs() -> None:
    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, bool)

    document = _document()
    assert plain(document)
    assert json.loads(json.dumps(document)) == document


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"reference": "RQ-26-42"}, "not like RQ-2026-000042"),
        ({"agency": "St Aidan's"}, "not a directory slug"),
        ({"case_ref": " "}, "case_ref cannot be blank"),
        ({"requester": ""}, "requester cannot be blank"),
        ({"authorised_by": ""}, "authorised by someone"),
        ({"questions": ()}, "at least one question"),
        ({"questions": (QUESTIONS[0], QUESTIONS[0])}, "unique"),
        ({"due_at": datetime(2026, 3, 14, 9, 30, tzinfo=UTC)}, "due before it is issued"),
        ({"due_at": datetime(2026, 3, 19, 9, 0)}, "timezone-aware"),
        ({"issued_at": datetime(2026, 3, 14, 9, 0)}, "timezone-aware"),
    ],
)
def test_a_request_document_refuses_what_it_cannot_stand_behind(
    override: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _document(**override)


# --- the link rule -------------------------------------------------------------------------

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


@dataclass(frozen=True)
class Link:
    """A link's fields as the rule takes them (a live link to a sent request by default)."""

    request_state: RequestState = S.SENT
    expires_at: datetime = LATER
    revoked_at: datetime | None = None
    locked_at: datetime | None = None

    def state(self) -> str:
        return link_state(**vars(self), now=NOW)

    def renewable(self) -> bool:
        return link_renewable(**vars(self), now=NOW)


def test_a_live_link_to_an_open_request_is_ok() -> None:
    assert Link().state() == "ok"
    assert Link(request_state=S.OPENED).state() == "ok"


@pytest.mark.parametrize(
    "link",
    [
        Link(expires_at=NOW),  # expiring exactly now is expired
        Link(revoked_at=NOW - timedelta(hours=1)),
        # An expired or revoked link says nothing about its request, answered or not.
        Link(expires_at=NOW, request_state=S.ANSWERED),
        Link(revoked_at=NOW, request_state=S.DECLINED, locked_at=NOW),
        Link(request_state=S.WITHDRAWN),
        Link(request_state=S.EXPIRED),
        Link(request_state=S.DRAFT),
    ],
)
def test_expired_revoked_and_closed_links_are_unusable(link: Link) -> None:
    assert link.state() == "unusable"


@pytest.mark.parametrize("state", [S.ANSWERED, S.ANSWERED_BY_EMAIL, S.DECLINED, S.NO_INFORMATION])
def test_a_link_to_an_answered_request_says_so_even_when_locked(state: RequestState) -> None:
    assert Link(request_state=state, locked_at=NOW).state() == "answered"


def test_a_locked_link_to_an_open_request_is_locked() -> None:
    assert Link(locked_at=NOW).state() == "locked"


def test_only_a_merely_expired_link_to_an_open_request_is_renewable() -> None:
    assert Link(expires_at=NOW).renewable()
    assert Link(expires_at=NOW, request_state=S.OPENED).renewable()
    assert not Link().renewable()  # still live
    assert not Link(expires_at=NOW, revoked_at=NOW).renewable()
    assert not Link(expires_at=NOW, locked_at=NOW).renewable()  # locked stays locked
    assert not Link(expires_at=NOW, request_state=S.ANSWERED).renewable()
