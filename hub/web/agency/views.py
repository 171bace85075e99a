"""The pages the agency handlers show: the messages for a link that cannot go on, the
code form, the request with its answer form, and the receipt.

Every page that says why someone cannot go on is kept plain and names who to contact.
The page for a link that cannot be used is one page, byte for byte, whatever the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from hub.domain.answers import MAX_FILES, MAX_TEXT_CHARS
from hub.domain.calendar import readable_time
from hub.services import links
from hub.web import pages, security
from hub.web.agency.formats import allowed_names, friendly_date, size_text
from hub.web.agency.forms import QUESTION_FIELDS, Entered
from hub.web.state import CONTEXT

CONTACT = "Contact the MARRAC team who sent you the request."
_CONTACT_LOWER = CONTACT[0].lower() + CONTACT[1:]


def _status_page(
    request: web.Request, title: str, paragraphs: tuple[str, ...], status: int
) -> web.Response:
    return pages.render(
        request, "agency/message.html", {"title": title, "paragraphs": paragraphs}, status=status
    )


def unusable_page(request: web.Request) -> web.Response:
    """The one page for every link that cannot be used, whatever the reason.

    Its form has no ``action``: it posts to the page's own address, so the page does not
    hold the token and is the same bytes for every token (given the same session):
    rendered once and filled in with each browser's CSRF field, like the landing page.
    """
    return pages.render_cached(request, "agency/unusable.html", {}, per_request={}, status=404)


def answered_page(request: web.Request, ref: str | None) -> web.Response:
    return _status_page(
        request,
        "This request has already been answered",
        (
            f"Request {ref} has been answered, so it cannot be answered again."
            if ref
            else "This request has been answered, so it cannot be answered again.",
            "If you need to add something, reply to the email we sent you, or " + _CONTACT_LOWER,
        ),
        200,
    )


def locked_page(request: web.Request) -> web.Response:
    return _status_page(
        request,
        "This link is locked",
        (
            "This link has been locked because a wrong code was entered too many times.",
            CONTACT + " They can send you a new link.",
        ),
        403,
    )


def closed_page(request: web.Request) -> web.Response:
    return _status_page(
        request,
        "This request is closed",
        ("This request has been closed and no longer needs an answer.", CONTACT),
        410,
    )


def session_ended_page(request: web.Request) -> web.Response:
    """The session is gone or no longer fits the request; the cookie goes with it."""
    response = _status_page(
        request,
        "Your session has ended",
        (
            "For your security, you need to prove again that you hold your organisation's mailbox.",
            "Open the link from your email again, and we will send you a new code.",
        ),
        403,
    )
    security.clear_session(response)
    return response


def too_many_codes_page(request: web.Request) -> web.Response:
    return _status_page(
        request,
        "Too many codes have been sent for this link",
        ("We cannot send any more codes for this request.", CONTACT),
        429,
    )


def renewal_page(request: web.Request) -> web.Response:
    """The same page whether or not a fresh link was sent: it tells nothing."""
    return _status_page(
        request,
        "Check your organisation's mailbox",
        (
            "If this link was one of ours, a fresh link is on its way to the mailbox we "
            "have registered for your organisation.",
            "If nothing arrives within an hour, " + _CONTACT_LOWER,
        ),
        200,
    )


def refusal_page(request: web.Request, seen: links.Landing) -> web.Response:
    """The page for a link that cannot go on: answered, locked, or cannot be used."""
    if seen.state == "answered":
        return answered_page(request, seen.ref)
    if seen.state == "locked":
        return locked_page(request)
    return unusable_page(request)


def code_page(
    request: web.Request,
    token: str,
    seen: links.Landing,
    *,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    """The form to enter the code mailed to the registered mailbox."""
    return pages.render(
        request,
        "agency/code.html",
        {
            "link": seen,
            "token": token,
            "error": error,
            "code_minutes": request.app[CONTEXT].settings.requests.code_minutes,
        },
        status=status,
    )


# --- the request and its answer form ------------------------------------------------------


def _person(person: Mapping[str, Any]) -> dict[str, Any]:
    """One person in scope as a summary card: name, role, date of birth, shared details."""

    def row(key: str, value: str) -> dict[str, Any]:
        return {"key": {"text": key}, "value": {"text": value}}

    rows = [
        row("Role", str(person.get("role") or "").replace("-", " ").capitalize()),
        row("Date of birth", friendly_date(person.get("date_of_birth"))),
    ]
    details = person.get("details") or {}
    rows += [row(str(k).replace("_", " ").capitalize(), str(v)) for k, v in details.items()]
    return {"name": person.get("name") or "Name not known", "rows": rows}


def request_page(
    request: web.Request,
    shown: dict[str, Any],
    entered: Entered | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """The people, the questions and the three ways to answer; with what was entered and
    what was wrong with it when the form comes back."""
    requests = request.app[CONTEXT].settings.requests
    entered = entered or Entered()
    questions = [
        {
            "number": n,
            "id": str(q["id"]),
            "text": str(q["text"]),
            # Every field has a value to show: "" for nothing yet (never None).
            "values": {f: "" for f in QUESTION_FIELDS} | entered.answers.get(str(q["id"]), {}),
        }
        for n, q in enumerate(shown["questions"], start=1)
    ]
    return pages.render(
        request,
        "agency/request.html",
        {
            "view": shown,
            "persons": [_person(p) for p in shown["persons"]],
            "questions": questions,
            "decline_reason": entered.decline_reason,
            "errors": [{"text": m, "href": f"#{i}"} for i, m in entered.errors],
            "field_errors": {i: m for i, m in reversed(entered.errors)},
            "max_upload": size_text(requests.max_upload_bytes),
            "allowed_types": allowed_names(requests.upload_types),
            "max_text": f"{MAX_TEXT_CHARS:,}",
            "max_files": MAX_FILES,
        },
        status=status,
    )


# --- the receipt ---------------------------------------------------------------------------

_KIND_NAMES = {"answered": "Answer", "declined": "Refusal", "no-information": "No information held"}
# The confirmation's heading for each kind of reply.
_HEADINGS = {
    "answered": "Answer received",
    "declined": "Refusal received",
    "no-information": "Reply received",
}


def _sent_summary(shown: dict[str, Any], submission: links.Submission) -> list[dict[str, Any]]:
    """What the agency sent, question by question, for the confirmation page."""
    texts = {str(q["id"]): str(q["text"]) for q in shown["questions"]}
    return [
        {
            "number": n,
            "question": texts.get(a["question_id"], ""),
            "known": {True: "Yes", False: "No"}.get(a["known"], "Not said"),
            "last_contact": friendly_date(a["last_contact"]) if a["last_contact"] else "Not given",
            "lines": a["text"].split("\n") if a["text"] else [],
        }
        for n, a in enumerate(submission.answers, start=1)
    ]


def _local_time(request: web.Request, received: str) -> str:
    """The receipt's UTC time in the hub's time zone, as people read it."""
    try:
        at = datetime.strptime(received, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return received
    return readable_time(at, request.app[CONTEXT].settings.hub.timezone)


def receipt_page(
    request: web.Request,
    receipt: dict[str, Any],
    shown: dict[str, Any],
    submission: links.Submission,
) -> web.Response:
    """The signed receipt, and what was sent, after an answer is stored."""
    document = receipt["document"]
    return pages.render(
        request,
        "agency/receipt.html",
        {
            "document": document,
            "signature": receipt["signature"],
            "received_local": _local_time(request, str(document.get("received_at", ""))),
            "heading": _HEADINGS.get(submission.kind, "Answer received"),
            "kind": _KIND_NAMES.get(submission.kind, "Answer"),
            "answers": _sent_summary(shown, submission),
            "decline_reason_lines": submission.decline_reason.split("\n")
            if submission.decline_reason
            else [],
            "files": [name for name, _, _ in submission.attachments],
        },
    )
