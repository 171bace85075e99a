"""A referral form as read so far: raw strings per field and per person.

The form reader (:mod:`hub.mail.form`) only files strings here; :func:`build_referral`
parses them into a :class:`~hub.domain.referral.Referral` at the end, so each value is
parsed once, after the whole form is known, and every value that could not be understood
becomes a problem phrased without personal data ("victim date of birth not understood").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hub.domain.referral import Person, Referral, Referrer, Role
from hub.mail.values import (
    MAX_CHILDREN,
    MAX_DETAILS,
    MAX_SUMMARY_CHARS,
    SUMMARY_CUT,
    clean_text,
    find_email,
    parse_date,
    parse_datetime,
    parse_score,
    parse_yes_no,
    snake_key,
    understood,
)
from hub.mail.vocabulary import DETAIL_ALIASES, PERSON

_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass
class PersonDraft:
    """A person as the form lists them, before values are parsed."""

    role: Role
    label: str  # how problems name them: "victim", "child 2"
    fields: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: str) -> str:
        """Store a value by label key; returns where it went: "phone", "details.x" or "".

        Known labels fill the person's fields; a second one of a kind (say, "Mobile"
        after "Tel") and every unknown label go to details under a snake-case key.
        """
        target = PERSON.get(key)
        if target is not None and target not in self.fields:
            self.fields[target] = value
            return target
        detail = snake_key(key) or "other"
        detail = DETAIL_ALIASES.get(detail, detail)
        if detail in self.details or len(self.details) >= MAX_DETAILS:
            return ""  # the first value wins; beyond the cap, extras are dropped
        self.details[detail] = value
        return f"details.{detail}"

    def build(self, reference_year: int | None, problems: list[str]) -> Person | None:
        """The person, or ``None`` when the form said nothing about them."""
        if not self.fields and not self.details:
            return None
        fields = self.fields
        return Person(
            role=self.role,
            name=self._name(),
            date_of_birth=understood(
                fields.get("date_of_birth"),
                lambda text: parse_date(text, reference_year),
                f"{self.label} date of birth",
                problems,
            ),
            gender=fields.get("gender"),
            address=self._address(),
            phone=fields.get("phone"),
            details=dict(self.details),
        )

    def _name(self) -> str | None:
        """The name as given, else forename and surname joined."""
        fields = self.fields
        name = fields.get("name")
        if name is None and ("forename" in fields or "surname" in fields):
            name = " ".join(filter(None, (fields.get("forename"), fields.get("surname"))))
        return name

    def _address(self) -> str | None:
        """The address, with the postcode added unless the address already holds it."""
        address = self.fields.get("address")
        postcode = self.fields.get("postcode")
        if postcode and (address is None or _squeeze(postcode) not in _squeeze(address)):
            address = f"{address}, {postcode}" if address else postcode
        return address


def _squeeze(text: str) -> str:
    return "".join(text.split()).lower()


@dataclass
class Draft:
    """Everything read so far, as raw strings; parsed into a Referral at the end."""

    fields: dict[str, str] = field(default_factory=dict)
    referrer: dict[str, str] = field(default_factory=dict)
    victim: PersonDraft = field(default_factory=lambda: PersonDraft(Role.VICTIM, "victim"))
    perpetrator: PersonDraft = field(
        default_factory=lambda: PersonDraft(Role.PERPETRATOR, "perpetrator")
    )
    children: list[PersonDraft] = field(default_factory=list)
    numbered: dict[str, PersonDraft] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    recognised: int = 0
    after_forward: bool = False
    recognised_after_forward: int = 0

    def new_child(self) -> PersonDraft:
        """A new child, or the last one once the form has listed the most we keep."""
        if len(self.children) >= MAX_CHILDREN:
            return self.children[-1]
        child = PersonDraft(Role.CHILD, f"child {len(self.children) + 1}")
        self.children.append(child)
        return child

    def child(self, number: str | None, current: PersonDraft | None, key: str) -> PersonDraft:
        """The child a field is about: by number ("Child 2 name"), else ``current``.

        A name for a child who already has one starts the next child, so a "Children"
        section listing Name/DOB/School over and over reads as several children.
        """
        if number is not None:
            if number not in self.numbered:
                self.numbered[number] = self.new_child()
            return self.numbered[number]
        target = PERSON.get(key)
        if current is None or (target in ("name", "forename") and target in current.fields):
            return self.new_child()
        return current


def build_referral(draft: Draft, reference_year: int | None) -> Referral:
    """Parse the drafted strings into a Referral, noting what could not be understood.

    ``reference_year`` (the year the mail was sent) is used only for two-digit years.
    Problems come in the order of the form's layout: main fields, people, summary.
    """
    fields, problems = draft.fields, list[str]()
    dash_score = understood(fields.get("dash_score"), parse_score, "dash score", problems)
    incident_at = understood(
        _incident_stamp(fields),
        lambda stamp: parse_datetime(stamp, reference_year),
        "incident date",
        problems,
    )
    children_present = understood(
        fields.get("children_present"), parse_yes_no, "children present", problems
    )
    email = understood(draft.referrer.get("email"), find_email, "referrer email", problems)
    victim = draft.victim.build(reference_year, problems)
    perpetrator = draft.perpetrator.build(reference_year, problems)
    children = tuple(
        person
        for person in (child.build(reference_year, problems) for child in draft.children)
        if person is not None
    )
    summary = _summary(draft.summary, problems)
    return Referral(
        source="form",
        force_reference=fields.get("force_reference"),
        referral_reason=fields.get("referral_reason"),
        dash_score=dash_score,
        risk_level=fields.get("risk_level"),
        division=fields.get("division"),
        area=fields.get("area"),
        referrer=Referrer(
            name=draft.referrer.get("name"), email=email, phone=draft.referrer.get("phone")
        ),
        incident_at=incident_at,
        incident_location=fields.get("incident_location"),
        children_present=children_present,
        victim=victim,
        perpetrator=perpetrator,
        children=children,
        summary=summary,
        parse_problems=tuple(problems),
    )


def _incident_stamp(fields: dict[str, str]) -> str | None:
    """The incident's date and time as one string, when the form gave either."""
    if "incident_date" not in fields and "incident_time" not in fields:
        return None
    return f"{fields.get('incident_date', '')} {fields.get('incident_time', '')}"


def _summary(lines: list[str], problems: list[str]) -> str | None:
    """The free-text summary, blank runs squeezed, cut (and noted) past the cap."""
    text = _BLANK_RUNS.sub("\n\n", "\n".join(lines).strip())
    if len(text) > MAX_SUMMARY_CHARS:
        problems.append(SUMMARY_CUT)
    return clean_text(text, MAX_SUMMARY_CHARS)
