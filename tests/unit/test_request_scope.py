"""Who and what a request names: people chosen by selector or by the template's roles,
only the template's fields shared, the template's questions and the co-ordinator's own."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from hub.domain.referral import Role
from hub.domain.request_scope import (
    Question,
    ScopeError,
    person_in_scope,
    questions_asked,
    select_people,
)

VICTIM: dict[str, Any] = {"name": "Emma Clarke", "date_of_birth": "1990-04-02"}
PERPETRATOR: dict[str, Any] = {"name": "Daniel Hughes"}
FIRST_CHILD: dict[str, Any] = {"name": "Mia Clarke", "details": {"school": "Larch Street"}}
SECOND_CHILD: dict[str, Any] = {"name": "Leo Clarke"}
PEOPLE = [
    ("victim", 1, VICTIM),
    ("perpetrator", 2, PERPETRATOR),
    ("child", 3, FIRST_CHILD),
    ("child", 4, SECOND_CHILD),
]
ALL_ROLES = ("victim", "perpetrator", "child")


def test_without_selectors_the_template_roles_choose_in_their_order() -> None:
    chosen = select_people(PEOPLE, None, ("child", "victim"))
    assert chosen == [("child", FIRST_CHILD), ("child", SECOND_CHILD), ("victim", VICTIM)]


def test_a_numbered_child_is_one_child_counted_from_one() -> None:
    assert select_people(PEOPLE, ["child:2"], ALL_ROLES) == [("child", SECOND_CHILD)]


def test_a_person_named_twice_is_chosen_once() -> None:
    chosen = select_people(PEOPLE, ["child:1", "child", "victim", "victim"], ALL_ROLES)
    assert chosen == [("child", FIRST_CHILD), ("child", SECOND_CHILD), ("victim", VICTIM)]


@pytest.mark.parametrize(
    ("selectors", "message"),
    [
        (["child:3"], r"no child:3 on this case \(2 children\)"),
        (["child:0"], "no child:0"),
        (["child:x"], "no child:x"),
        (["neighbour"], "use victim, perpetrator, child"),
    ],
)
def test_unknown_or_out_of_range_selectors_are_refused(selectors: list[str], message: str) -> None:
    with pytest.raises(ScopeError, match=message):
        select_people(PEOPLE, selectors, ALL_ROLES)


def test_a_selection_that_names_nobody_is_refused() -> None:
    with pytest.raises(ScopeError, match="nobody on this case"):
        select_people([("victim", 1, VICTIM)], ["child"], ALL_ROLES)


def test_a_person_in_scope_carries_only_the_template_fields() -> None:
    record = {**VICTIM, "address": "1 Elm Row", "phone": "01772 000000", "details": {"gp": "X"}}
    person = person_in_scope("victim", record, ("address", "gp"))
    assert person.role is Role.VICTIM
    assert person.date_of_birth == date(1990, 4, 2)
    assert dict(person.details) == {"address": "1 Elm Row", "gp": "X"}
    assert person.fields == ("address", "gp")


def test_an_unnamed_person_without_a_birth_date_is_still_named_plainly() -> None:
    person = person_in_scope("perpetrator", {"name": ""}, ())
    assert person.name == "(name not known)"
    assert person.date_of_birth is None
    assert dict(person.details) == {}


TEMPLATE = (Question("known", "Is the person known to you?"),)


def test_own_questions_are_added_to_the_template_questions() -> None:
    # Own questions used to replace a template chosen by agency type (issue 8).
    assert questions_asked(TEMPLATE, None) == list(TEMPLATE)
    asked = questions_asked(TEMPLATE, ["Any school moves?"])
    assert asked == [*TEMPLATE, Question("q2", "Any school moves?")]


def test_a_person_outside_the_template_roles_is_refused() -> None:
    # A school's template asks about children only: the victim's details stay home.
    with pytest.raises(ScopeError, match=r"asks only about child.*--template general"):
        select_people(PEOPLE, ["child:1", "victim"], ("child",))
    assert select_people(PEOPLE, ["child:2"], ("child",)) == [("child", SECOND_CHILD)]
