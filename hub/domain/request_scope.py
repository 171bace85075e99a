"""What a request holds: the people it is about, exactly what is shared about each, the
questions asked and the lawful basis (evaluation report, 5.7; UK GDPR Art. 5(1)(c), data
minimisation: no blanket sharing).

The rules that choose them live here too: which people a selector such as ``child:2``
names, which fields of a person's record leave the hub, and which questions are asked
when a template and the co-ordinator's own questions meet. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from hub.domain.referral import Role

# The basis the pilot's information-sharing agreement relies on; a request may state another.
DEFAULT_LAWFUL_BASIS = "UK GDPR Art. 6(1)(e); DPA 2018 Part 3; s.115 Crime and Disorder Act 1998"


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


# Top-level fields of a person's record that a template may share, beside ``details``.
SHAREABLE_FIELDS = ("address", "phone", "gender")
# A stored person: (role, ordinal on the case, their decrypted record).
StoredPerson = tuple[str, int, Mapping[str, Any]]


def select_people(
    people: Sequence[StoredPerson], selectors: Sequence[str] | None, roles: Sequence[str]
) -> list[tuple[str, Mapping[str, Any]]]:
    """The (role, record) of everyone ``selectors`` name, in the order named and without
    repeats: ``victim``, ``perpetrator``, ``child`` (all children) or ``child:N``
    (1-based). No selectors: the template's ``roles``. :class:`ScopeError` when a
    selector is unknown or out of range, when it names nobody, or when it names a role
    the template does not ask about (a school's template asks about children only: the
    victim's details do not go to a school unless a template that allows it is named)."""
    chosen: list[tuple[str, Mapping[str, Any]]] = []
    children = [p for p in people if p[0] == Role.CHILD.value]
    for selector in selectors or list(roles):
        named = _named_by(selector, people, children)
        wanted = selector.partition(":")[0]
        if wanted not in roles:
            raise ScopeError(
                f"person {selector!r}: this request's template asks only about "
                f"{', '.join(roles)}; to share a {wanted}'s details name a template that "
                "covers them (e.g. --template general)"
            )
        for role, _, record in named:
            if (role, record) not in chosen:
                chosen.append((role, record))
    if not chosen:
        raise ScopeError("nobody on this case matches the persons asked for")
    return chosen


def _named_by(
    selector: str, people: Sequence[StoredPerson], children: Sequence[StoredPerson]
) -> list[StoredPerson]:
    role, _, number = selector.partition(":")
    if role == Role.CHILD.value and number:
        if not number.isdigit() or not 1 <= int(number) <= len(children):
            raise ScopeError(f"no {selector} on this case ({len(children)} children)")
        return [children[int(number) - 1]]
    if role in (Role.VICTIM.value, Role.PERPETRATOR.value, Role.CHILD.value):
        return [p for p in people if p[0] == role]
    raise ScopeError(f"person selector {selector!r}: use victim, perpetrator, child[:N]")


def person_in_scope(role: str, record: Mapping[str, Any], fields: Sequence[str]) -> PersonInScope:
    """One person as the request names them: name, role and date of birth, plus only the
    ``fields`` a template shares (from ``details`` or the shareable top-level fields)."""
    shareable = {
        **(record.get("details") or {}),
        **{k: record[k] for k in SHAREABLE_FIELDS if record.get(k)},
    }
    born = record.get("date_of_birth")
    return PersonInScope(
        role=Role(role),
        name=record.get("name") or "(name not known)",
        date_of_birth=date.fromisoformat(born) if born else None,
        fields=tuple(fields),
        details={k: str(v) for k, v in minimise(shareable, fields).items()},
    )


def questions_asked(
    template_questions: Sequence[Question], own: Sequence[str] | None
) -> list[Question]:
    """The template's questions, then the co-ordinator's own numbered on from them: an
    own question is added to the template's, never in place of them."""
    asked = list(template_questions)
    asked += [
        Question(id=f"q{n}", text=text) for n, text in enumerate(own or [], start=len(asked) + 1)
    ]
    return asked
