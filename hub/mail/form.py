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

from collections.abc import Callable
from dataclasses import dataclass

from hub.domain.referral import Referral
from hub.mail.draft import Draft, PersonDraft, build_referral
from hub.mail.values import MAX_VALUE_CHARS, clean_text, label_key
from hub.mail.vocabulary import (
    CHILD_PREFIX,
    CHILD_PREFIX_EXCEPTIONS,
    CONTINUED,
    DECORATION,
    FORWARD_HEADERS,
    FORWARD_SEPARATOR,
    GLOBAL,
    INCIDENT,
    MAIN,
    PERSON,
    PREFIX_WORDS,
    REFERRER,
    ROLE_PREFIXES,
    SECTION_SUFFIXES,
    SECTIONS,
    TRAILING_NUMBER,
)

# Beyond this the mail is not a hand-typed form; capping keeps every pass linear and cheap.
MAX_FORM_CHARS = 1_000_000
MAX_LABEL_CHARS = 60
# Fewer recognised fields than this is prose that happens to contain a colon.
MIN_FIELDS = 2
# Sections whose unprefixed labels are about one person.
_PERSON_SECTIONS = ("victim", "perpetrator", "child", "children")
# What reply quoting at the start of a line is made of: ">" and any space between.
_QUOTING = ">" + "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
# (role, child number, the rest of the label) from "Child 2 date of birth".
_Prefixed = tuple[str, str | None, str]
# (label, value, loose) from one line.
_Split = tuple[str, str, bool]


@dataclass(frozen=True)
class FormReading:
    """A referral read from a form, and whether the form sat below a forward separator."""

    referral: Referral
    forwarded: bool


def _unquote(line: str) -> str:
    """A line trimmed, without reply quoting ("> > Name: x"), no-break spaces as spaces."""
    line = line.replace("\u00a0", " ").strip()
    # One strip of the quote marks: slicing once per ">" was quadratic in the line.
    return line.lstrip(_QUOTING) if line.startswith(">") else line


def _section_marker(line: str, in_summary: bool) -> tuple[str, str | None] | None:
    """The section a marker line opens, with the child number if any, else ``None``.

    Known names count bare ("Victim") or decorated ("== Victim ==", "Victim details:");
    inside the free-text summary only decorated ones do, so prose cannot end it. An
    unknown "== Heading ==" (our HTML reader writes those) returns to the main section.
    """
    if len(line) > MAX_LABEL_CHARS:
        return None
    colon = line.find(":")
    if 0 <= colon < len(line) - 1 and line[colon + 1 :].strip(DECORATION):
        return None  # "Label: value", the common case, settled cheaply
    core = line.strip(DECORATION)
    if not core:
        return None
    key, number = _numbered(label_key(core))
    section = _section(key)
    if section is None:
        if line.startswith("==") and line.endswith("==") and number is None:
            return "main", None
        return None
    if in_summary and core == line:
        return None
    return section, number


def _numbered(key: str) -> tuple[str, str | None]:
    """A marker's key without its trailing number, and the number: "child 2" -> "child", "2"."""
    number_match = TRAILING_NUMBER.search(key)
    if number_match is None or number_match.start() == 0:
        return key, None
    return key[: number_match.start()], number_match.group(0).split()[-1]


def _section(key: str) -> str | None:
    """The section a marker names, also with a suffix ("Victim details", "Referrer info")."""
    section = SECTIONS.get(key)
    for suffix in SECTION_SUFFIXES:
        if section is None and key.endswith(suffix):
            section = SECTIONS.get(key[: -len(suffix)])
    return section


def _split(line: str) -> _Split | None:
    """(label, value, loose) from "Label: value"; loose when a tab or two spaces split it."""
    colon = line.find(":")
    if 0 < colon <= MAX_LABEL_CHARS:
        return line[:colon], line[colon + 1 :], False
    for separator in ("\t", "  "):
        at = line.find(separator)
        if 0 < at <= MAX_LABEL_CHARS:
            return line[:at], line[at:], True
    return None


def _role_prefix(key: str) -> _Prefixed | None:
    """("victim"|"perpetrator"|"referrer"|"child", child number, rest) from a prefixed key."""
    if key.split(" ", 1)[0] not in PREFIX_WORDS:
        return None
    for prefix, role in ROLE_PREFIXES:
        if key == prefix or key.startswith(prefix + " "):
            return role, None, key[len(prefix) + 1 :]
    match = CHILD_PREFIX.match(key)
    if match is not None and (match.group(2) or "") not in CHILD_PREFIX_EXCEPTIONS:
        return "child", match.group(1), match.group(2) or ""
    return None


class _Reader:
    """One pass over the lines of a form, filling a :class:`Draft`."""

    def __init__(self) -> None:
        self.draft = Draft()
        self.section = "main"
        self.section_number: str | None = None
        # The child a "== Child ==" or "Children" section is currently describing.
        self.section_child: PersonDraft | None = None
        self.summary_inline = False
        # Where the last value went, so an address carried on to the next line joins it.
        self.last: Callable[[str], None] | None = None

    def read(self, lines: list[str]) -> None:
        """Read every line, in order."""
        index = 0
        while index < len(lines):
            index = self._line(lines, index)

    def _line(self, lines: list[str], index: int) -> int:
        """Read the line at ``index``; returns the index of the next line to read."""
        line = _unquote(lines[index])
        index += 1
        if not line:
            self._blank()
            return index
        if FORWARD_SEPARATOR.fullmatch(line):
            return self._forward(lines, index)
        marker = _section_marker(line, self.section == "summary")
        if marker is not None:
            self._marker(*marker)
            return index
        return self._content(lines, index, line)

    def _blank(self) -> None:
        """A blank line ends a carried-on value; in the summary it is a paragraph break."""
        self.last = None
        if self.section == "summary":
            self.draft.summary.append("")

    def _marker(self, section: str, number: str | None) -> None:
        self._enter(section, number)
        if section == "summary":
            self._count()  # a summary section is as telling as a field

    def _content(self, lines: list[str], index: int, line: str) -> int:
        """A line that is no marker: summary text, a field, or more of the last value."""
        split = _split(line)
        key = label_key(split[0]) if split is not None else ""
        if self.section == "summary" and self._summary_text(line, split, key):
            return index
        if key == "from" and self._header_block(lines, index):
            return self._forward(lines, index)
        if split is not None:
            self._field(key, split[1], split[2])
        elif self.last is not None:
            self.last(line)
        return index

    def _summary_text(self, line: str, split: _Split | None, key: str) -> bool:
        """Keep a summary line as text (``True``), or leave the summary (``False``).

        "Summary: text" typed inline ends at the next known top-level label; a
        "== Summary ==" section only at the next section marker.
        """
        if self.summary_inline and split is not None and not split[2] and key in MAIN:
            self._enter("main", None)
            return False
        self.draft.summary.append(line)
        return True

    def _forward(self, lines: list[str], index: int) -> int:
        """After a forward separator: skip its From/Sent/Subject lines, read on as main."""
        while index < len(lines):
            split = _split(_unquote(lines[index]))
            if split is None or label_key(split[0]) not in FORWARD_HEADERS:
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
        if section in _PERSON_SECTIONS and (prefixed is None or prefixed[0] == role):
            person_key = key if prefixed is None else prefixed[2]
            return self._own_field(role, person_key, key, value, loose)
        if section == "referrer" and key in REFERRER:
            return self._referrer(REFERRER[key], value)
        if section == "incident" and key in INCIDENT:
            return self._set(self.draft.fields, INCIDENT[key], value)
        if key in MAIN:
            return self._main(key, value)
        return prefixed is not None and self._prefixed(prefixed, value, loose)

    def _own_field(self, role: str, person_key: str, key: str, value: str, loose: bool) -> bool:
        """A field in a person's own section: theirs, a top-level one, or (typed with a
        colon) a detail about them."""
        if person_key in PERSON:
            return self._person(role, None, person_key, value)
        if key in GLOBAL:
            return self._main(key, value)
        if loose:
            return False
        return self._person(role, None, person_key, value)

    def _prefixed(self, prefixed: _Prefixed, value: str, loose: bool) -> bool:
        """A field whose label names its person outside their section ("Victim DOB")."""
        role, number, rest = prefixed
        if role == "referrer":
            return rest in REFERRER and self._referrer(REFERRER[rest], value)
        if loose and rest not in PERSON:
            return False
        return self._person(role, number, rest, value)

    def _set(self, target: dict[str, str], key: str, value: str) -> bool:
        if not value:
            return False
        self.last = None
        if key not in target:  # the first value given wins
            target[key] = value
            if key in CONTINUED:
                self.last = lambda more: self._continue(target, key, more)
        return self._count()

    @staticmethod
    def _continue(target: dict[str, str], key: str, more: str) -> None:
        # A value already at its cap takes no more: re-copying it per line was quadratic.
        if len(target[key]) < MAX_VALUE_CHARS:
            target[key] = f"{target[key]}, {more}"[:MAX_VALUE_CHARS]

    def _main(self, key: str, value: str) -> bool:
        target = MAIN[key]
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
        person = self._whose(role, number, key)
        stored = person.put(key, value)
        if stored == "address" or stored.startswith("details."):
            self.last = lambda more: self._continue_person(person, stored, more)
        else:
            self.last = None
        return self._count()

    def _whose(self, role: str, number: str | None, key: str) -> PersonDraft:
        """The person a field is about: the victim, the perpetrator, or which child."""
        draft = self.draft
        if role == "victim":
            return draft.victim
        if role == "perpetrator":
            return draft.perpetrator
        if number is None and self.section in ("child", "children"):
            person = self.section_child = draft.child(None, self.section_child, key)
            if self.section_number is not None:
                draft.numbered.setdefault(self.section_number, person)
            return person
        return draft.child(number, draft.children[-1] if draft.children else None, key)

    @staticmethod
    def _continue_person(person: PersonDraft, stored: str, more: str) -> None:
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
        referral=build_referral(draft, reference_year),
        forwarded=draft.recognised_after_forward >= MIN_FIELDS,
    )
