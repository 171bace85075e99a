"""The answer form, translated both ways: the posted fields into the domain's plain
values (:class:`hub.domain.answers.AnswerForm`), and the domain's problems back into
GOV.UK error messages, each tied to the field it is about.

Field names are ``action``, ``decline_reason`` and ``q.<question id>.<part>`` for the
parts in :data:`QUESTION_FIELDS`; a name outside those, or a field sent twice, is a
form no page of ours sends (:class:`~hub.domain.answers.BadForm`, a 400).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from multidict import MultiDict

from hub.domain.answers import (
    MAX_FILES,
    MAX_TEXT_CHARS,
    AnswerForm,
    BadForm,
    Entry,
    Problem,
    check_answer,
    normalise_text,
)
from hub.services import links
from hub.services.context import Context
from hub.web.agency.formats import allowed_names, size_text
from hub.web.agency.uploads import ReadForm
from hub.web.security import CSRF_FIELD

QUESTION_FIELDS = (
    "known",
    "text",
    "last-contact-day",
    "last-contact-month",
    "last-contact-year",
)
OTHER_FIELDS = {CSRF_FIELD, "action", "decline_reason"}

_DATE_MESSAGES = {
    "not-real": "Last contact must be a real date, like 27 3 2026",
    "future": "Last contact must be today or in the past",
    "too-early": "Last contact must be after 1900",
}


@dataclass
class Entered:
    """What the form sent (for re-display after an error), and what was wrong with it."""

    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    decline_reason: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message)

    def error(self, field_id: str, message: str) -> None:
        self.errors.append((field_id, message))


def _single(fields: MultiDict[str], name: str) -> str:
    values = fields.getall(name, [])
    if len(values) > 1:
        raise BadForm(f"field sent {len(values)} times")
    return values[0] if values else ""


def _check_names(fields: MultiDict[str], question_ids: set[str]) -> None:
    for name in fields:
        if name in OTHER_FIELDS:
            continue
        prefix, _, rest = name.partition(".")
        qid, _, part = rest.rpartition(".")
        if prefix != "q" or qid not in question_ids or part not in QUESTION_FIELDS:
            raise BadForm("a field for no question of this request")


def read_entered(fields: MultiDict[str], question_ids: list[str]) -> tuple[str, Entered]:
    """The action chosen and what was typed, field by field, for every question."""
    _check_names(fields, set(question_ids))
    action = _single(fields, "action")
    entered = Entered(decline_reason=normalise_text(_single(fields, "decline_reason")))
    for qid in question_ids:
        entered.answers[qid] = {p: _single(fields, f"q.{qid}.{p}") for p in QUESTION_FIELDS}
    return action, entered


def answer_form(action: str, entered: Entered, form: ReadForm) -> AnswerForm:
    """The domain's view of the reply: plain strings per question, and the files."""
    entries = tuple(
        Entry(
            qid,
            known=values["known"],
            text=values["text"],
            day=values["last-contact-day"],
            month=values["last-contact-month"],
            year=values["last-contact-year"],
        )
        for qid, values in entered.answers.items()
    )
    return AnswerForm(
        action,
        entries,
        decline_reason=entered.decline_reason,
        uploads=tuple(form.uploads),
        files_too_big=form.files_too_big,
        too_many_files=form.too_many_files,
    )


def validate(
    ctx: Context, shown: dict[str, Any], form: ReadForm
) -> tuple[links.Submission | None, Entered]:
    """Check the form against the request's questions. Raises :class:`BadForm` for what
    no page of ours sends (unknown questions or fields, repeated fields)."""
    action, entered = read_entered(form.fields, [str(q["id"]) for q in shown["questions"]])
    today = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.hub.timezone)).date()
    checked, problems = check_answer(
        answer_form(action, entered, form), today, ctx.settings.requests.upload_types
    )
    for problem in problems:
        entered.error(*error_message(ctx, problem))
    if checked is None:
        return None, entered
    submission = links.Submission(
        kind=checked.kind,
        answers=[a.as_dict() for a in checked.answers],
        decline_reason=checked.decline_reason,
        attachments=checked.attachments,
    )
    return submission, entered


# --- the domain's problems in GOV.UK words -------------------------------------------------


def error_message(ctx: Context, problem: Problem) -> tuple[str, str]:
    """(field id, message) for a problem, in the GOV.UK pattern for error messages."""
    if problem.question:
        return _question_error(problem)
    if problem.part == "decline-reason":
        if problem.reason == "missing":
            return "decline-reason", "Enter why you cannot answer this request"
        return "decline-reason", f"The reason must be {MAX_TEXT_CHARS:,} characters or fewer"
    return "attachment", _attachment_error(ctx, problem)


def _question_error(problem: Problem) -> tuple[str, str]:
    n = problem.question
    if problem.part == "known":
        return (
            f"q{n}-known",
            f"Question {n}: select whether they are known to you, or write an answer",
        )
    if problem.part == "text":
        return (
            f"q{n}-text",
            f"Question {n}: the answer must be {MAX_TEXT_CHARS:,} characters or fewer",
        )
    if problem.reason == "incomplete":
        message = f"Last contact must include a {' and '.join(problem.missing_parts)}"
    else:
        message = _DATE_MESSAGES[problem.reason]
    return f"q{n}-last-contact-day", f"Question {n}: {message}"


def _attachment_error(ctx: Context, problem: Problem) -> str:
    if problem.reason == "too-big":
        return (
            f"The selected files must be smaller than "
            f"{size_text(ctx.settings.requests.max_upload_bytes)} in total. "
            "Select a smaller file"
        )
    if problem.reason == "too-many":
        return f"Select up to {MAX_FILES} files"
    if problem.reason == "empty":
        return "The selected file is empty. Select the file again"
    return (
        f"The selected file must be a {allowed_names(ctx.settings.requests.upload_types)} "
        "file. Select the file again"
    )


def too_large_error(ctx: Context) -> Entered:
    """The error for a body over the cap (refused or cut short, so nothing to show again)."""
    entered = Entered()
    entered.error(
        "attachment",
        f"The selected file must be smaller than "
        f"{size_text(ctx.settings.requests.max_upload_bytes)}. Select a smaller file",
    )
    return entered
