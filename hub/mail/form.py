"""Reading the plain-text MARRAC referral form (DESIGN.md, "Referral form").

Police type or paste the form into a mail, so the reader is forgiving: labels are matched
case-insensitively after dropping punctuation ("D.O.B." is "dob"), common synonyms are
known, fields may come in any order, a tab or two spaces may stand in for the colon of a
known label, and "> " quoting from replies is ignored. Sections start with a marker line
("== Victim ==", "Victim details:", "Child 2"); "== Summary ==" holds free text up to the
next marker. Labels a person section does not know are kept in ``Person.details`` under a
snake-case key, because they are often exactly what a MARAC needs (custody, school...).

Problems are phrased without personal data ("victim date of birth not understood"): they
end up in logs and alerts. Values are plain text: markup is kept as typed, never rendered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hub.domain.referral import Person, Referral, Referrer, Role
from hub.mail.values import (
    MAX_SUMMARY_CHARS,
    MAX_VALUE_CHARS,
    clean_text,
    find_email,
    label_key,
    parse_date,
    parse_datetime,
    parse_score,
    parse_yes_no,
    snake_key,
)

# Beyond this the mail is not a hand-typed form; capping keeps every pass linear and cheap.
MAX_FORM_CHARS = 1_000_000
MAX_LABEL_CHARS = 60
# Fewer recognised fields than this is prose that happens to contain a colon.
MIN_FIELDS = 2
MAX_DETAILS = 40
MAX_CHILDREN = 20


def _keys(*labels: str) -> frozenset[str]:
    return frozenset(labels)


def _table(spec: dict[str, frozenset[str]]) -> dict[str, str]:
    """Invert {target: synonyms} into {synonym: target}."""
    return {synonym: target for target, synonyms in spec.items() for synonym in synonyms}


_SECTIONS = _table(
    {
        "main": _keys(
            "referral", "marrac referral", "marac referral", "marrac", "marac", "risk",
            "marrac referral form", "marac referral form", "referral form", "dash",
        ),
        "referrer": _keys("referrer", "referring officer", "officer", "referred by"),
        "incident": _keys("incident", "incident details", "the incident"),
        "victim": _keys("victim", "victims", "adult victim", "person at risk", "survivor"),
        "perpetrator": _keys(
            "perpetrator", "perpetrators", "alleged perpetrator", "perp", "suspect",
            "offender", "alleged offender", "abuser",
        ),
        "child": _keys("child", "dependant"),
        "children": _keys(
            "children", "dependants", "children in household", "children in the household",
        ),
        "summary": _keys(
            "summary", "incident summary", "summary of incident", "brief summary",
            "circumstances", "narrative", "summary of concerns", "details of incident",
        ),
    }
)  # fmt: skip
_DECORATION = " \t=#*[]-_~|:"
_SECTION_SUFFIXES = (" details", " information", " info", " section")
_TRAILING_NUMBER = re.compile(r"\s*(?:no\s*)?\d{1,2}$")

_MAIN = _table(
    {
        "force_reference": _keys(
            "force reference", "force ref", "force ref no", "force reference number",
            "police reference", "police ref", "reference", "reference number", "ref",
            "ref no", "crime reference", "crime reference number", "crime ref",
            "crime number", "occurrence number", "occurrence reference",
        ),
        "referral_reason": _keys(
            "referral reason", "reason for referral", "reason", "referral criteria",
        ),
        "dash_score": _keys(
            "dash score", "dash", "dash total", "total dash score", "dash risk score",
            "dash ric score", "ric score", "risk score", "number of ticks", "dash ticks",
        ),
        "risk_level": _keys(
            "risk level", "risk", "dash risk level", "risk rating", "risk grading",
            "level of risk", "dash risk", "assessed risk",
        ),
        "division": _keys("division", "police division"),
        "area": _keys("area", "district", "local area", "policing area"),
        "incident_date": _keys(
            "incident date", "date of incident", "incident date time",
            "incident date and time", "date and time of incident", "date time of incident",
            "incident datetime", "incident when",
        ),
        "incident_time": _keys("incident time", "time of incident"),
        "incident_location": _keys(
            "incident location", "location of incident", "location", "incident address",
            "address of incident", "place of incident", "incident place",
        ),
        "children_present": _keys(
            "children present", "children present at incident",
            "children present at the incident", "were children present",
            "any children present", "child present", "children at incident",
        ),
        "summary": _keys(
            "summary", "incident summary", "summary of incident", "brief summary",
            "circumstances", "narrative", "summary of concerns", "details of incident",
        ),
    }
)  # fmt: skip
# Main labels that mean the same inside a person section ("Risk level" under the victim).
_GLOBAL = frozenset(
    key
    for key, target in _MAIN.items()
    if target not in ("area", "division", "referral_reason") and key not in ("location", "reason")
)
_INCIDENT = _table(
    {
        "incident_date": _keys("date", "date and time", "date time", "when", "datetime"),
        "incident_time": _keys("time",),
        "incident_location": _keys("location", "place", "where", "address"),
    }
)  # fmt: skip
_REFERRER = _table(
    {
        "name": _keys("", "name", "full name", "officer name", "officer"),
        "email": _keys("email", "email address", "e mail", "e mail address", "mail"),
        "phone": _keys(
            "phone", "tel", "telephone", "mobile", "phone number", "telephone number",
            "contact number", "tel no", "phone no", "number",
        ),
    }
)  # fmt: skip
_PERSON = _table(
    {
        "name": _keys("", "name", "names", "full name", "full names", "person name"),
        "forename": _keys(
            "forename", "forenames", "first name", "first names", "given name",
            "given names", "christian name",
        ),
        "surname": _keys("surname", "last name", "family name"),
        "date_of_birth": _keys(
            "date of birth", "dob", "birth date", "born", "birthday", "date of birth age",
        ),
        "gender": _keys("gender", "sex"),
        "address": _keys(
            "address", "home address", "current address", "residential address",
            "address line 1", "full address",
        ),
        "postcode": _keys("postcode", "post code", "postal code"),
        "phone": _keys(
            "phone", "tel", "telephone", "mobile", "phone number", "telephone number",
            "mobile number", "contact number", "tel no", "phone no", "mobile no",
        ),
    }
)  # fmt: skip
# Details keys the JSON form and the text form should agree on.
DETAIL_ALIASES = {
    "relationship": "relationship_to_victim",
    "relationship_to_the_victim": "relationship_to_victim",
    "relationship_with_victim": "relationship_to_victim",
    "present": "present_at_incident",
    "present_at_the_incident": "present_at_incident",
    "in_custody": "custody",
}
# Label prefixes that name whose field it is ("Victim DOB", "Child 2 name", "Referrer tel").
_ROLE_PREFIXES = (
    ("alleged perpetrator", "perpetrator"),
    ("perpetrators", "perpetrator"),
    ("perpetrator", "perpetrator"),
    ("perp", "perpetrator"),
    ("suspect", "perpetrator"),
    ("offender", "perpetrator"),
    ("victims", "victim"),
    ("victim", "victim"),
    ("referrers", "referrer"),
    ("referrer", "referrer"),
    ("referring officer", "referrer"),
    ("referred by", "referrer"),
    ("officer", "referrer"),
)
_PREFIX_WORDS = frozenset(
    [prefix.split()[0] for prefix, _ in _ROLE_PREFIXES] + ["child", "childs", "children"]
)
_CHILD_PREFIX = re.compile(r"(?:child|childs|children)(?: (\d{1,2}))?(?: (.*))?$")
_FORWARD_SEPARATOR = re.compile(
    r"-{2,} ?(?:forwarded message|original message|message transféré) ?-*"
    r"|begin forwarded message:?|forwarded message:?",
    re.IGNORECASE,
)
_FORWARD_HEADERS = frozenset(
    ("from", "sent", "date", "to", "cc", "bcc", "subject", "reply to", "importance")
)
_CONTINUED = frozenset(("address", "incident_location", "referral_reason"))


@dataclass
class _PersonDraft:
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
        target = _PERSON.get(key)
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
        if not self.fields and not self.details:
            return None
        fields = self.fields
        name = fields.get("name")
        if name is None and ("forename" in fields or "surname" in fields):
            name = " ".join(filter(None, (fields.get("forename"), fields.get("surname"))))
        born = None
        if "date_of_birth" in fields:
            born = parse_date(fields["date_of_birth"], reference_year)
            if born is None:
                problems.append(f"{self.label} date of birth not understood")
        address = fields.get("address")
        postcode = fields.get("postcode")
        if postcode and (address is None or _squeeze(postcode) not in _squeeze(address)):
            address = f"{address}, {postcode}" if address else postcode
        return Person(
            role=self.role,
            name=name,
            date_of_birth=born,
            gender=fields.get("gender"),
            address=address,
            phone=fields.get("phone"),
            details=dict(self.details),
        )


def _squeeze(text: str) -> str:
    return "".join(text.split()).lower()


@dataclass
class _Draft:
    """Everything read so far, as raw strings; parsed into a Referral at the end."""

    fields: dict[str, str] = field(default_factory=dict)
    referrer: dict[str, str] = field(default_factory=dict)
    victim: _PersonDraft = field(default_factory=lambda: _PersonDraft(Role.VICTIM, "victim"))
    perpetrator: _PersonDraft = field(
        default_factory=lambda: _PersonDraft(Role.PERPETRATOR, "perpetrator")
    )
    children: list[_PersonDraft] = field(default_factory=list)
    numbered: dict[str, _PersonDraft] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    recognised: int = 0
    after_forward: bool = False
    recognised_after_forward: int = 0

    def new_child(self) -> _PersonDraft:
        if len(self.children) >= MAX_CHILDREN:
            return self.children[-1]
        child = _PersonDraft(Role.CHILD, f"child {len(self.children) + 1}")
        self.children.append(child)
        return child

    def child(self, number: str | None, current: _PersonDraft | None, key: str) -> _PersonDraft:
        """The child a field is about: by number ("Child 2 name"), else ``current``.

        A name for a child who already has one starts the next child, so a "Children"
        section listing Name/DOB/School over and over reads as several children.
        """
        if number is not None:
            if number not in self.numbered:
                self.numbered[number] = self.new_child()
            return self.numbered[number]
        target = _PERSON.get(key)
        if current is None or (target in ("name", "forename") and target in current.fields):
            return self.new_child()
        return current


@dataclass(frozen=True)
class FormReading:
    """A referral read from a form, and whether the form sat below a forward separator."""

    referral: Referral
    forwarded: bool


def _unquote(line: str) -> str:
    """A line trimmed, without reply quoting ("> > Name: x"), no-break spaces as spaces."""
    line = line.replace("\u00a0", " ").strip()
    while line.startswith(">"):
        line = line[1:].lstrip()
    return line


def _section_marker(line: str, in_summary: bool) -> tuple[str, str | None] | None:
    """The section a marker line opens, with the child number if any, else ``None``.

    Known names count bare ("Victim") or decorated ("== Victim ==", "Victim details:");
    inside the free-text summary only decorated ones do, so prose cannot end it. An
    unknown "== Heading ==" (our HTML reader writes those) returns to the main section.
    """
    if len(line) > MAX_LABEL_CHARS:
        return None
    colon = line.find(":")
    if 0 <= colon < len(line) - 1 and line[colon + 1 :].strip(_DECORATION):
        return None  # "Label: value", the common case, settled cheaply
    core = line.strip(_DECORATION)
    if not core:
        return None
    decorated = core != line
    key = label_key(core)
    number_match = _TRAILING_NUMBER.search(key)
    number = None
    if number_match is not None and number_match.start() > 0:
        number = number_match.group(0).split()[-1]
        key = key[: number_match.start()]
    section = _SECTIONS.get(key)
    for suffix in _SECTION_SUFFIXES:
        if section is None and key.endswith(suffix):
            section = _SECTIONS.get(key[: -len(suffix)])
    if section is None:
        if line.startswith("==") and line.endswith("==") and number is None:
            return "main", None
        return None
    if in_summary and not decorated:
        return None
    return section, number


def _split(line: str) -> tuple[str, str, bool] | None:
    """(label, value, loose) from "Label: value"; loose when a tab or two spaces split it."""
    colon = line.find(":")
    if 0 < colon <= MAX_LABEL_CHARS:
        return line[:colon], line[colon + 1 :], False
    for separator in ("\t", "  "):
        at = line.find(separator)
        if 0 < at <= MAX_LABEL_CHARS:
            return line[:at], line[at:], True
    return None


def _role_prefix(key: str) -> tuple[str, str | None, str] | None:
    """("victim"|"perpetrator"|"referrer"|"child", child number, rest) from a prefixed key."""
    if key.split(" ", 1)[0] not in _PREFIX_WORDS:
        return None
    for prefix, role in _ROLE_PREFIXES:
        if key == prefix or key.startswith(prefix + " "):
            return role, None, key[len(prefix) + 1 :]
    match = _CHILD_PREFIX.match(key)
    if match is not None and (match.group(2) or "") not in ("present", "present at incident"):
        return "child", match.group(1), match.group(2) or ""
    return None


class _Reader:
    """One pass over the lines of a form, filling a :class:`_Draft`."""

    def __init__(self) -> None:
        self.draft = _Draft()
        self.section = "main"
        self.section_number: str | None = None
        # The child a "== Child ==" or "Children" section is currently describing.
        self.section_child: _PersonDraft | None = None
        self.summary_inline = False
        # Where the last value went, so an address carried on to the next line joins it.
        self.last: Callable[[str], None] | None = None

    def read(self, lines: list[str]) -> None:
        index = 0
        while index < len(lines):
            line = _unquote(lines[index])
            index += 1
            if not line:
                self.last = None
                if self.section == "summary":
                    self.draft.summary.append("")
                continue
            if _FORWARD_SEPARATOR.fullmatch(line):
                index = self._forward(lines, index)
                continue
            marker = _section_marker(line, self.section == "summary")
            if marker is not None:
                self._enter(*marker)
                if marker[0] == "summary":
                    self._count()  # a summary section is as telling as a field
                continue
            split = _split(line)
            key = label_key(split[0]) if split is not None else ""
            if self.section == "summary":
                # "Summary: text" typed inline ends at the next known top-level label;
                # a "== Summary ==" section only at the next section marker.
                if not (self.summary_inline and split and not split[2] and key in _MAIN):
                    self.draft.summary.append(line)
                    continue
                self._enter("main", None)
            if key == "from" and self._header_block(lines, index):
                index = self._forward(lines, index)
                continue
            if split is None or not self._field(key, split[1], split[2]):
                if self.last is not None and split is None:
                    self.last(line)

    def _forward(self, lines: list[str], index: int) -> int:
        """After a forward separator: skip its From/Sent/Subject lines, read on as main."""
        while index < len(lines):
            split = _split(_unquote(lines[index]))
            if split is None or label_key(split[0]) not in _FORWARD_HEADERS:
                break
            index += 1
        self.draft.after_forward = True
        self._enter("main", None)
        return index

    @staticmethod
    def _header_block(lines: list[str], index: int) -> bool:
        """Outlook forwards without a separator: "From:" directly followed by "Sent:"."""
        for line in lines[index : index + 2]:
            split = _split(_unquote(line))
            if split is not None:
                return label_key(split[0]) in ("sent", "date")
        return False

    def _enter(self, section: str, number: str | None) -> None:
        self.section, self.section_number, self.summary_inline = section, number, False
        self.last = None
        # Each "== Child ==" is a new child; its first field creates it.
        self.section_child = self.draft.numbered.get(number) if number is not None else None

    def _count(self) -> bool:
        self.draft.recognised += 1
        if self.draft.after_forward:
            self.draft.recognised_after_forward += 1
        return True

    def _field(self, key: str, raw_value: str, loose: bool) -> bool:
        """File one "label: value" line; ``False`` when the label means nothing here."""
        value = clean_text(raw_value) or ""
        section = self.section
        prefixed = _role_prefix(key)
        role = "child" if section == "children" else section
        # "Referrer email" under == Victim == is still the referrer's: only a label with no
        # role, or this section's own ("Victim name" under Victim), is about this person.
        if section in ("victim", "perpetrator", "child", "children") and (
            prefixed is None or prefixed[0] == role
        ):
            person_key = key if prefixed is None else prefixed[2]
            if person_key in _PERSON:
                return self._person(role, None, person_key, value)
            if key in _GLOBAL:
                return self._main(key, value)
            if loose:
                return False
            return self._person(role, None, person_key, value)
        if section == "referrer" and key in _REFERRER:
            return self._referrer(_REFERRER[key], value)
        if section == "incident" and key in _INCIDENT:
            return self._set(self.draft.fields, _INCIDENT[key], value)
        if key in _MAIN:
            return self._main(key, value)
        if prefixed is None:
            return False
        role, number, rest = prefixed
        if role == "referrer":
            return rest in _REFERRER and self._referrer(_REFERRER[rest], value)
        if loose and rest not in _PERSON:
            return False
        return self._person(role, number, rest, value)

    def _set(self, target: dict[str, str], key: str, value: str) -> bool:
        if not value:
            return False
        self.last = None
        if key not in target:  # the first value given wins
            target[key] = value
            if key in _CONTINUED:
                self.last = lambda more: self._continue(target, key, more)
        return self._count()

    @staticmethod
    def _continue(target: dict[str, str], key: str, more: str) -> None:
        target[key] = f"{target[key]}, {more}"[:MAX_VALUE_CHARS]

    def _main(self, key: str, value: str) -> bool:
        target = _MAIN[key]
        if target == "summary":
            self._enter("summary", None)
            self.summary_inline = True
            if value:
                self.draft.summary.append(value)
            return self._count()
        return self._set(self.draft.fields, target, value)

    def _referrer(self, key: str, value: str) -> bool:
        return self._set(self.draft.referrer, key, value)

    def _person(self, role: str, number: str | None, key: str, value: str) -> bool:
        if not value:
            return False
        draft = self.draft
        if role == "victim":
            person = draft.victim
        elif role == "perpetrator":
            person = draft.perpetrator
        elif number is None and self.section in ("child", "children"):
            person = self.section_child = draft.child(None, self.section_child, key)
            if self.section_number is not None:
                draft.numbered.setdefault(self.section_number, person)
        else:
            person = draft.child(number, draft.children[-1] if draft.children else None, key)
        stored = person.put(key, value)
        if stored == "address" or stored.startswith("details."):
            self.last = lambda more: self._continue_person(person, stored, more)
        else:
            self.last = None
        return self._count()

    @staticmethod
    def _continue_person(person: _PersonDraft, stored: str, more: str) -> None:
        if stored.startswith("details."):
            _Reader._continue(person.details, stored[len("details.") :], more)
        else:
            _Reader._continue(person.fields, stored, more)


def read_form(text: str, reference_year: int | None = None) -> FormReading | None:
    """The referral in a plain-text form, or ``None`` when the text holds no form.

    ``reference_year`` is the year the mail was sent, used only for two-digit years.
    """
    text = text[:MAX_FORM_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    reader = _Reader()
    reader.read(text.split("\n"))
    draft = reader.draft
    if draft.recognised < MIN_FIELDS:
        return None
    return FormReading(
        referral=_build(draft, reference_year),
        forwarded=draft.recognised_after_forward >= MIN_FIELDS,
    )


def _build(draft: _Draft, reference_year: int | None) -> Referral:
    """Parse the drafted strings into a Referral, noting what could not be understood."""
    fields, problems = draft.fields, []
    dash_score = None
    if "dash_score" in fields:
        dash_score = parse_score(fields["dash_score"])
        if dash_score is None:
            problems.append("dash score not understood")
    incident_at = None
    if "incident_date" in fields or "incident_time" in fields:
        stamp = f"{fields.get('incident_date', '')} {fields.get('incident_time', '')}"
        incident_at = parse_datetime(stamp, reference_year)
        if incident_at is None:
            problems.append("incident date not understood")
    children_present = None
    if "children_present" in fields:
        children_present = parse_yes_no(fields["children_present"])
        if children_present is None:
            problems.append("children present not understood")
    email = None
    if "email" in draft.referrer:
        email = find_email(draft.referrer["email"])
        if email is None:
            problems.append("referrer email not understood")
    victim = draft.victim.build(reference_year, problems)
    perpetrator = draft.perpetrator.build(reference_year, problems)
    children = tuple(
        person
        for person in (child.build(reference_year, problems) for child in draft.children)
        if person is not None
    )
    summary_text = "\n".join(draft.summary).strip()
    summary_text = re.sub(r"\n{3,}", "\n\n", summary_text)
    summary = clean_text(summary_text, MAX_SUMMARY_CHARS)
    if len(summary_text) > MAX_SUMMARY_CHARS:
        problems.append(
            f"summary longer than {MAX_SUMMARY_CHARS} characters, cut short: see the original mail"
        )
    referral = Referral(
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
    )
    return replace(referral, parse_problems=tuple(problems))
