"""What makes an agency's reply to an information request acceptable.

An agency replies in one of three ways: it answers the questions (with files, perhaps),
says it holds no information, or declines with a reason. This module checks such a reply,
given as plain values, against the request's questions: the web form, or any other way
in, translates into :class:`AnswerForm` and translates the :class:`Problem` s back into
words of its own. Problems are ordinary outcomes (the person corrects them); a form that
no page of ours could have sent raises :class:`BadForm`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

from hub.domain.uploads import Upload, check_upload

MAX_TEXT_CHARS = 20_000
MAX_FILES = 5
# Nobody's last contact with an agency predates this; an earlier year is a typing slip.
EARLIEST_YEAR = 1900

Kind = Literal["answered", "declined", "no-information"]


class BadForm(Exception):
    """The reply is not one our pages could have sent (an unknown action or question, a
    repeated field, "known" neither yes nor no): a bad request, not a message to show."""


@dataclass(frozen=True)
class Entry:
    """What was typed for one question, as sent: "known" is "", "yes" or "no"; the last
    contact date comes as the day, month and year boxes of a GOV.UK date input."""

    question_id: str
    known: str = ""
    text: str = ""
    day: str = ""
    month: str = ""
    year: str = ""


@dataclass(frozen=True)
class AnswerForm:
    """A reply as sent: the action chosen, an entry per question (in the request's
    order), the refusal's reason, and the files with what happened while reading them."""

    action: str
    entries: tuple[Entry, ...] = ()
    decline_reason: str = ""
    uploads: tuple[Upload, ...] = ()
    files_too_big: bool = False
    too_many_files: bool = False


@dataclass(frozen=True)
class Problem:
    """One thing to correct: which part of the reply, and why.

    ``part`` is "decline-reason", "known", "last-contact", "text" or "attachment";
    ``reason`` is "missing", "too-long", "incomplete" (``missing_parts`` says which of
    day, month and year), "not-real", "future", "too-early", "too-big", "too-many",
    "wrong-type" or "empty". ``question`` numbers the question from 1 (0: none).
    """

    part: str
    reason: str
    question: int = 0
    missing_parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    """One question's checked answer: known (None: not said), last contact, text."""

    question_id: str
    known: bool | None
    last_contact: str | None  # ISO date
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "known": self.known,
            "last_contact": self.last_contact,
            "text": self.text,
        }


@dataclass(frozen=True)
class CheckedAnswer:
    """A reply that may be stored: attachments as (safe name, type, bytes)."""

    kind: Kind
    answers: tuple[Answer, ...] = ()
    decline_reason: str = ""
    attachments: tuple[tuple[str, str, bytes], ...] = ()


def normalise_text(value: str) -> str:
    """Typed text with one kind of line break (browsers send CRLF) and no outer space."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def read_date(day: str, month: str, year: str, today: date) -> tuple[str | None, Problem | None]:
    """(ISO date or None, problem or None) from a GOV.UK date input's three boxes.

    All three empty is no date, and no problem: the date is optional.
    """
    day, month, year = day.strip(), month.strip(), year.strip()
    if not day and not month and not year:
        return None, None
    missing = tuple(n for n, v in (("day", day), ("month", month), ("year", year)) if not v)
    if missing:
        return None, Problem("last-contact", "incomplete", missing_parts=missing)
    if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
        return None, Problem("last-contact", "not-real")
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        return None, Problem("last-contact", "not-real")
    if value > today:
        return None, Problem("last-contact", "future")
    if value.year < EARLIEST_YEAR:
        return None, Problem("last-contact", "too-early")
    return value.isoformat(), None


def check_answer(
    form: AnswerForm, today: date, allowed_types: Collection[str]
) -> tuple[CheckedAnswer | None, list[Problem]]:
    """The reply ready to store, or None and what to correct (in the order to show).

    ``today`` is the hub's local date (a last contact cannot be after it);
    ``allowed_types`` the file types the hub accepts.
    """
    if form.action == "no-information":
        if form.uploads or form.files_too_big or form.too_many_files:
            raise BadForm("files with 'no information held'")
        return CheckedAnswer("no-information"), []
    if form.action == "declined":
        return _check_refusal(normalise_text(form.decline_reason))
    if form.action != "answered":
        raise BadForm("unknown action")
    problems: list[Problem] = []
    answers = tuple(
        _check_entry(n, entry, today, problems) for n, entry in enumerate(form.entries, start=1)
    )
    attachments = _check_files(form, allowed_types, problems)
    if problems:
        return None, problems
    return CheckedAnswer("answered", answers, attachments=attachments), problems


def _check_refusal(reason: str) -> tuple[CheckedAnswer | None, list[Problem]]:
    if not reason:
        return None, [Problem("decline-reason", "missing")]
    if len(reason) > MAX_TEXT_CHARS:
        return None, [Problem("decline-reason", "too-long")]
    return CheckedAnswer("declined", decline_reason=reason), []


def _check_entry(n: int, entry: Entry, today: date, problems: list[Problem]) -> Answer:
    """Question ``n``'s answer; what is wrong with it goes on ``problems``."""
    if entry.known not in ("", "yes", "no"):
        raise BadForm("known must be yes or no")
    known = {"yes": True, "no": False}.get(entry.known)
    text = normalise_text(entry.text)
    last_contact, date_problem = read_date(entry.day, entry.month, entry.year, today)
    if known is None and not text:
        problems.append(Problem("known", "missing", n))
    if date_problem:
        problems.append(replace(date_problem, question=n))
    if len(text) > MAX_TEXT_CHARS:
        problems.append(Problem("text", "too-long", n))
    return Answer(entry.question_id, known, last_contact, text)


def _check_files(
    form: AnswerForm, allowed_types: Collection[str], problems: list[Problem]
) -> tuple[tuple[str, str, bytes], ...]:
    """The files as kept; only the first bad file is reported (it is chosen again)."""
    if form.files_too_big:
        problems.append(Problem("attachment", "too-big"))
    if form.too_many_files:
        problems.append(Problem("attachment", "too-many"))
    kept: list[tuple[str, str, bytes]] = []
    for upload in form.uploads:
        checked = check_upload(upload, allowed_types)
        if isinstance(checked, str):
            problems.append(Problem("attachment", checked))
            break
        kept.append(checked)
    return tuple(kept)
