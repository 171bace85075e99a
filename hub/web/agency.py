"""The agency's pages: a request link, the one-time code, the request, the answer.

Routes
    ``GET  /r/{token}``        landing: reference, agency, deadline, signature; never
                               changes anything (mail scanners fetch links before people do)
    ``POST /r/{token}``        "send a fresh link to our registered mailbox" (from the page
                               shown for a link that cannot be used)
    ``POST /r/{token}/code``   mail a one-time code to the registered mailbox, then 303 to
    ``GET  /r/{token}/code``   the code entry form
    ``POST /r/{token}/verify`` check the code: a fresh session, then 303 to
    ``GET  /request``          the people, the questions and the answer forms (session only:
                               the token is no longer in the address)
    ``POST /request``          the answer (multipart, with attachments), "no information
                               held", or a refusal with its reason

Nothing about the people is shown before the code is proved. Unknown, truncated, expired
and revoked links all get one page, byte for byte, with one status: the page does not
even echo the token (its form posts to the page's own address). The session holds the
request and link ids and the CSRF token, never personal data. The services audit every
look and attempt; this module passes them the client's address.

Uploads are read with aiohttp's multipart reader under a hard cap on the whole body (a
``Content-Length`` above it is refused before a byte is read); files are checked against
the allowlist by declared type, extension and content (magic bytes), and their names cut
down to a safe basename. ``client_max_size`` is aiohttp's cap for ``request.post()`` only,
so the small forms here read through a clone with a cap of their own
(:data:`SMALL_FORM_BYTES`), and the upload form enforces :func:`body_cap` itself.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import urllib.parse
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from hub.services import links
from hub.services.context import Context
from hub.web import pages, security
from hub.web.security import client_ip
from hub.web.state import CONTEXT

log = logging.getLogger("hub.web.agency")

# A session lasts long enough to write careful answers, and no longer.
SESSION_SECONDS = 2 * 60 * 60
# The code, verify and renew forms: a CSRF token and six digits.
SMALL_FORM_BYTES = 16 * 1024
# Everything in the answer form except the files: the answers' text, dates, radios.
FIELDS_ALLOWANCE = 1024 * 1024
# One text field: 20,000 characters of up to 4 bytes in UTF-8, with room for CRLFs.
FIELD_BYTES = 128 * 1024
MAX_TEXT_CHARS = 20_000
MAX_FILES = 5
CHUNK = 64 * 1024

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# The extension that each allowed type must come with; a type the settings allow that is
# not listed here (or has no sniffer below) is refused: fail closed.
EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    DOCX: (".docx",),
    "text/plain": (".txt",),
}
TYPE_NAMES: Mapping[str, str] = {
    "application/pdf": "PDF",
    DOCX: "Word (.docx)",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "text/plain": "plain text (.txt)",
}

_CODE_SEPARATORS = re.compile(r"[\s-]+")
_CODE = re.compile(r"[0-9]{6}")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._ -]")


# --- helpers -----------------------------------------------------------------------------


def _ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


def _client(request: web.Request) -> str:
    return client_ip(request) or "-"


async def _small_form(request: web.Request) -> MultiDict[str]:
    """A small POSTed form (code, verify, renew), read under a cap of its own."""
    form = await request.clone(client_max_size=SMALL_FORM_BYTES).post()
    return MultiDict((k, v) for k, v in form.items() if isinstance(v, str))


def _see_other(location: str) -> web.Response:
    """303: after a POST, the browser GETs ``location`` (post/redirect/get)."""
    return web.Response(status=303, headers={"Location": location})


def _status_page(
    request: web.Request, title: str, paragraphs: tuple[str, ...], status: int
) -> web.Response:
    return pages.render(
        request, "agency/message.html", {"title": title, "paragraphs": paragraphs}, status=status
    )


CONTACT = "Contact the MARRAC team who sent you the request."


def unusable_page(request: web.Request) -> web.Response:
    """The one page for every link that cannot be used, whatever the reason.

    Its form has no ``action``: it posts to the page's own address, so the page does not
    hold the token and is the same bytes for every token (given the same session).
    """
    return pages.render(request, "agency/unusable.html", status=404)


def answered_page(request: web.Request, ref: str | None) -> web.Response:
    return _status_page(
        request,
        "This request has already been answered",
        (
            f"Request {ref} has been answered, so it cannot be answered again."
            if ref
            else "This request has been answered, so it cannot be answered again.",
            "If you need to add something, reply to the email we sent you, or "
            + CONTACT[0].lower()
            + CONTACT[1:],
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


def _refusal_page(request: web.Request, seen: links.Landing) -> web.Response:
    """The page for a link that cannot go on: answered, locked, or cannot be used."""
    if seen.state == "answered":
        return answered_page(request, seen.ref)
    if seen.state == "locked":
        return locked_page(request)
    return unusable_page(request)


async def _page_for_state(request: web.Request, token: str) -> web.Response:
    """After a refusal by a service: the page for what the link is now (a usable link
    refused a code has had all the codes it may)."""
    seen = await links.landing(_ctx(request), token, _client(request))
    if seen.state == "ok":
        return too_many_codes_page(request)
    return _refusal_page(request, seen)


# --- the link: landing, code, verify -------------------------------------------------------


async def landing(request: web.Request) -> web.Response:
    """``GET /r/{token}``: what is on the email already, and a button for a code."""
    token = request.match_info["token"]
    seen = await links.landing(_ctx(request), token, _client(request))
    if seen.state == "ok":
        return pages.render(request, "agency/landing.html", {"link": seen, "token": token})
    return _refusal_page(request, seen)


async def renew(request: web.Request) -> web.Response:
    """``POST /r/{token}``: a fresh link to the registered mailbox, if the link was ours
    and has expired. The same page whatever happened."""
    security.require_csrf(request, await _small_form(request))
    await links.renew(_ctx(request), request.match_info["token"], _client(request))
    return _status_page(
        request,
        "Check your organisation's mailbox",
        (
            "If this link was one of ours, a fresh link is on its way to the mailbox we "
            "have registered for your organisation.",
            "If nothing arrives within an hour, " + CONTACT[0].lower() + CONTACT[1:],
        ),
        200,
    )


async def send_code(request: web.Request) -> web.StreamResponse:
    """``POST /r/{token}/code``: mail a code, then show the form to enter it."""
    security.require_csrf(request, await _small_form(request))
    token = request.match_info["token"]
    if await links.send_code(_ctx(request), token, _client(request)):
        return _see_other(f"/r/{token}/code")
    return await _page_for_state(request, token)


def _code_page(
    request: web.Request,
    token: str,
    seen: links.Landing,
    *,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    return pages.render(
        request,
        "agency/code.html",
        {
            "link": seen,
            "token": token,
            "error": error,
            "code_minutes": _ctx(request).settings.requests.code_minutes,
        },
        status=status,
    )


async def code_form(request: web.Request) -> web.Response:
    """``GET /r/{token}/code``: the code entry form (the link is checked, not changed)."""
    token = request.match_info["token"]
    seen = await links.landing(_ctx(request), token, _client(request))
    if seen.state != "ok":
        return _refusal_page(request, seen)
    return _code_page(request, token, seen)


def _tries(left: int) -> str:
    return f"You have {left} {'try' if left == 1 else 'tries'} left."


async def verify(request: web.Request) -> web.StreamResponse:
    """``POST /r/{token}/verify``: the code proves the mailbox; a session replaces the link."""
    form = await _small_form(request)
    security.require_csrf(request, form)
    token = request.match_info["token"]
    ctx = _ctx(request)
    code = _CODE_SEPARATORS.sub("", form.get("code", ""))
    if not _CODE.fullmatch(code):
        # A typing slip tests nothing, so it costs no try.
        seen = await links.landing(ctx, token, _client(request))
        if seen.state != "ok":
            return _refusal_page(request, seen)
        message = (
            "Enter the 6-digit code from the email"
            if not code
            else "The code must be 6 digits, like 123456"
        )
        return _code_page(request, token, seen, error=message)
    result = await links.verify_code(ctx, token, code, _client(request))
    if result.outcome == "ok" and result.grant is not None:
        response = _see_other("/request")
        # Fresh data: nothing of the anonymous session is carried across, so a new CSRF
        # token is made with it.
        security.set_session(
            response,
            {"request_id": result.grant.request_id, "link_id": result.grant.link_id},
            SESSION_SECONDS,
        )
        return response
    if result.outcome == "locked":
        return locked_page(request)
    if result.outcome in ("wrong", "expired"):
        seen = await links.landing(ctx, token, _client(request))
        if seen.state != "ok":
            return _refusal_page(request, seen)
        message = (
            "That code has expired. Send yourself a new code, then enter it here."
            if result.outcome == "expired"
            else "The code is not right. Check the email and enter the code again."
        )
        return _code_page(request, token, seen, error=f"{message} {_tries(result.tries_left)}")
    return _refusal_page(request, await links.landing(ctx, token, _client(request)))


# --- the request: view and answer ----------------------------------------------------------


def _grant(request: web.Request) -> links.Grant | None:
    session = security.get_session(request)
    if not session:
        return None
    request_id, link_id = session.get("request_id"), session.get("link_id")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (request_id, link_id)):
        return None
    assert isinstance(request_id, int) and isinstance(link_id, int)
    return links.Grant(request_id, link_id)


async def _view(request: web.Request, grant: links.Grant) -> dict[str, Any] | web.Response:
    """The request for this session, or the page to show instead of it."""
    try:
        shown = await links.view(_ctx(request), grant, _client(request))
    except PermissionError:
        return session_ended_page(request)
    if shown["state"] == "ok":
        return shown
    if shown["state"] == "answered":
        return answered_page(request, shown.get("ref"))
    if shown["state"] == "locked":
        return locked_page(request)
    return closed_page(request)


def _friendly_date(value: str | None) -> str:
    if not value:
        return "Not known"
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.day} {day:%B %Y}"


def _size_text(size: int) -> str:
    mib = 1024 * 1024
    if size >= mib and size % mib == 0:
        return f"{size // mib} MB"
    if size >= mib:
        return f"{size / mib:.1f} MB"
    return f"{max(1, size // 1024)} KB"


def _allowed_names(ctx: Context) -> str:
    names = [TYPE_NAMES.get(t, t) for t in ctx.settings.requests.upload_types if t in EXTENSIONS]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


@dataclass
class Entered:
    """What the form sent (for re-display after an error), and what was wrong with it."""

    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    decline_reason: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message)

    def error(self, field_id: str, message: str) -> None:
        self.errors.append((field_id, message))


def _person(person: Mapping[str, Any]) -> dict[str, Any]:
    """One person in scope as a summary card: name, role, date of birth, shared details."""

    def row(key: str, value: str) -> dict[str, Any]:
        return {"key": {"text": key}, "value": {"text": value}}

    rows = [
        row("Role", str(person.get("role") or "").replace("-", " ").capitalize()),
        row("Date of birth", _friendly_date(person.get("date_of_birth"))),
    ]
    details = person.get("details") or {}
    rows += [row(str(k).replace("_", " ").capitalize(), str(v)) for k, v in details.items()]
    return {"name": person.get("name") or "Name not known", "rows": rows}


def _render_request(
    request: web.Request,
    shown: dict[str, Any],
    entered: Entered | None = None,
    *,
    status: int = 200,
) -> web.Response:
    ctx = _ctx(request)
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
    persons = [_person(p) for p in shown["persons"]]
    return pages.render(
        request,
        "agency/request.html",
        {
            "view": shown,
            "persons": persons,
            "questions": questions,
            "decline_reason": entered.decline_reason,
            "errors": [{"text": m, "href": f"#{i}"} for i, m in entered.errors],
            "field_errors": {i: m for i, m in reversed(entered.errors)},
            "max_upload": _size_text(ctx.settings.requests.max_upload_bytes),
            "allowed_types": _allowed_names(ctx),
            "max_text": f"{MAX_TEXT_CHARS:,}",
            "max_files": MAX_FILES,
        },
        status=status,
    )


async def request_page(request: web.Request) -> web.Response:
    """``GET /request``: the people in scope, the lawful basis and the questions."""
    grant = _grant(request)
    if grant is None:
        return session_ended_page(request)
    shown = await _view(request, grant)
    if isinstance(shown, web.Response):
        return shown
    return _render_request(request, shown)


# --- reading the answer form ---------------------------------------------------------------


class BadForm(Exception):
    """The form is not one this page could have sent (a 400, not a validation message)."""


class TooLarge(Exception):
    """The body went over the hard cap: reading stopped."""


@dataclass
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ReadForm:
    fields: MultiDict[str]
    uploads: list[Upload]
    files_too_big: bool = False
    too_many_files: bool = False


def body_cap(ctx: Context) -> int:
    """The most the answer form may send: the files' allowance plus the fields'."""
    return ctx.settings.requests.max_upload_bytes + FIELDS_ALLOWANCE


async def _read_multipart(request: web.Request, cap: int, file_cap: int) -> ReadForm:
    """Stream the form's parts under ``cap`` bytes in all; files beyond ``file_cap`` bytes
    together are read to their end (still under ``cap``) and dropped, so the rest of the
    form can be shown again with the error."""
    reader = await request.multipart()
    fields: MultiDict[str] = MultiDict()
    uploads: list[Upload] = []
    total = 0
    file_bytes = 0
    too_big = too_many = False
    parts = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise BadForm("nested multipart")
        parts += 1
        if parts > 1000:
            raise BadForm("too many parts")
        name = part.name or ""
        is_file = part.filename is not None
        if is_file and name != "attachment":
            raise BadForm("a file in a field that takes none")
        kept = bytearray()
        keep_limit = file_cap if is_file else FIELD_BYTES
        while True:
            chunk = await part.read_chunk(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise TooLarge()
            if is_file:
                file_bytes += len(chunk)
                if file_bytes > file_cap:
                    too_big = True
                    kept.clear()
                    continue
            if len(kept) < keep_limit:
                kept += chunk[: keep_limit - len(kept)]
        if is_file:
            if too_big or (not part.filename and not kept):
                continue  # dropped, or the empty part of "no file chosen"
            if len(uploads) == MAX_FILES:
                too_many = True
                continue
            declared = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            uploads.append(Upload(part.filename or "", declared, bytes(kept)))
        else:
            fields.add(name, bytes(kept).decode("utf-8", errors="replace"))
    return ReadForm(fields, uploads, too_big, too_many)


def safe_filename(raw: str) -> str:
    """A safe basename: no directories, no control or look-alike characters, no leading
    dot, at most 100 characters, its extension kept."""
    # Browsers send the name as typed (with '"' as %22); other clients percent-encode it.
    name = urllib.parse.unquote(raw).replace("\\", "/").rsplit("/", 1)[-1]
    # Accents dropped (résumé: resume), then anything outside a small safe set replaced.
    name = "".join(
        c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c) != "Mn"
    )
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"[ _]{2,}", "_", name).strip(" ._-")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:10].lower()
    stem = stem.strip(" ._-")[: 100 - len(ext) - 1] or "attachment"
    return f"{stem}.{ext}" if ext else stem


def sniff(content_type: str, data: bytes) -> bool:
    """Whether ``data`` looks like ``content_type`` (magic bytes; structure for .docx)."""
    if content_type == "application/pdf":
        return data.startswith(b"%PDF-")
    if content_type == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    if content_type == DOCX:
        if not data.startswith(b"PK\x03\x04"):
            return False
        try:
            # The central directory only: nothing is decompressed.
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
            return False
        return {"[Content_Types].xml", "word/document.xml"} <= names
    if content_type == "text/plain":
        if b"\x00" in data:
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return False


def check_upload(ctx: Context, upload: Upload) -> tuple[str, str, bytes] | str:
    """The attachment as the service takes it, or the message saying what is wrong."""
    allowed = ctx.settings.requests.upload_types
    name = safe_filename(upload.filename)
    ext = "." + name.rpartition(".")[2].lower() if "." in name else ""
    kind = upload.content_type
    wrong_type = f"The selected file must be a {_allowed_names(ctx)} file"
    if kind not in allowed or ext not in EXTENSIONS.get(kind, ()):
        return wrong_type
    if not upload.data:
        return "The selected file is empty"
    if not sniff(kind, upload.data):
        return wrong_type
    return (name, kind, upload.data)


def _date(parts: tuple[str, str, str], today: date) -> tuple[str | None, str | None]:
    """(ISO date or None, error or None) from a GOV.UK date input's day, month, year."""
    day, month, year = (p.strip() for p in parts)
    if not day and not month and not year:
        return None, None
    missing = [n for n, v in (("day", day), ("month", month), ("year", year)) if not v]
    if missing:
        return None, f"Last contact must include a {' and '.join(missing)}"
    if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
        return None, "Last contact must be a real date, like 27 3 2026"
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        return None, "Last contact must be a real date, like 27 3 2026"
    if value > today:
        return None, "Last contact must be today or in the past"
    if value.year < 1900:
        return None, "Last contact must be after 1900"
    return value.isoformat(), None


QUESTION_FIELDS = (
    "known",
    "text",
    "last-contact-day",
    "last-contact-month",
    "last-contact-year",
)
OTHER_FIELDS = {security.CSRF_FIELD, "action", "decline_reason"}


def _single(fields: MultiDict[str], name: str) -> str:
    values = fields.getall(name, [])
    if len(values) > 1:
        raise BadForm(f"field sent {len(values)} times")
    return values[0] if values else ""


def _text(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def validate(
    ctx: Context, shown: dict[str, Any], form: ReadForm
) -> tuple[links.Submission | None, Entered]:
    """Check the form against the request's questions. Raises :class:`BadForm` for what
    no page of ours sends (unknown questions or fields, repeated fields)."""
    fields = form.fields
    questions = [str(q["id"]) for q in shown["questions"]]
    known_ids = set(questions)
    for name in fields:
        if name in OTHER_FIELDS:
            continue
        prefix, _, rest = name.partition(".")
        qid, _, part = rest.rpartition(".")
        if prefix != "q" or qid not in known_ids or part not in QUESTION_FIELDS:
            raise BadForm("a field for no question of this request")
    action = _single(fields, "action")
    entered = Entered(decline_reason=_text(_single(fields, "decline_reason")))
    for qid in questions:
        entered.answers[qid] = {p: _single(fields, f"q.{qid}.{p}") for p in QUESTION_FIELDS}

    if action == "no-information":
        if form.uploads or form.files_too_big or form.too_many_files:
            raise BadForm("files with 'no information held'")
        return links.Submission(kind="no-information", answers=[]), entered
    if action == "declined":
        reason = entered.decline_reason
        if not reason:
            entered.error("decline-reason", "Enter why you cannot answer this request")
        elif len(reason) > MAX_TEXT_CHARS:
            entered.error(
                "decline-reason", f"The reason must be {MAX_TEXT_CHARS:,} characters or fewer"
            )
        if entered.errors:
            return None, entered
        return links.Submission(kind="declined", answers=[], decline_reason=reason), entered
    if action != "answered":
        raise BadForm("unknown action")

    today = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.hub.timezone)).date()
    answers: list[dict[str, Any]] = []
    for n, qid in enumerate(questions, start=1):
        values = entered.answers[qid]
        known_raw = values["known"]
        if known_raw not in ("", "yes", "no"):
            raise BadForm("known must be yes or no")
        known = {"yes": True, "no": False}.get(known_raw)
        text = _text(values["text"])
        last_contact, date_error = _date(
            (values["last-contact-day"], values["last-contact-month"], values["last-contact-year"]),
            today,
        )
        if known is None and not text:
            entered.error(
                f"q{n}-known",
                f"Question {n}: select whether they are known to you, or write an answer",
            )
        if date_error:
            entered.error(f"q{n}-last-contact-day", f"Question {n}: {date_error}")
        if len(text) > MAX_TEXT_CHARS:
            entered.error(
                f"q{n}-text",
                f"Question {n}: the answer must be {MAX_TEXT_CHARS:,} characters or fewer",
            )
        answers.append(
            {"question_id": qid, "known": known, "last_contact": last_contact, "text": text}
        )
    attachments: list[tuple[str, str, bytes]] = []
    if form.files_too_big:
        entered.error(
            "attachment",
            f"The selected files must be smaller than "
            f"{_size_text(ctx.settings.requests.max_upload_bytes)} in total. "
            "Select a smaller file",
        )
    if form.too_many_files:
        entered.error("attachment", f"Select up to {MAX_FILES} files")
    for upload in form.uploads:
        checked = check_upload(ctx, upload)
        if isinstance(checked, str):
            entered.error("attachment", checked + ". Select the file again")
            break
        attachments.append(checked)
    if entered.errors:
        return None, entered
    return (
        links.Submission(kind="answered", answers=answers, attachments=tuple(attachments)),
        entered,
    )


def _too_large(ctx: Context, shown: dict[str, Any], request: web.Request) -> web.Response:
    entered = Entered()
    entered.error(
        "attachment",
        f"The selected file must be smaller than "
        f"{_size_text(ctx.settings.requests.max_upload_bytes)}. Select a smaller file",
    )
    response = _render_request(request, shown, entered, status=413)
    response.force_close()  # the rest of the body is not wanted
    return response


async def answer(request: web.Request) -> web.Response:
    """``POST /request``: check the form, store the answer once, show the signed receipt."""
    ctx = _ctx(request)
    grant = _grant(request)
    if grant is None:
        return session_ended_page(request)
    shown = await _view(request, grant)
    if isinstance(shown, web.Response):
        return shown
    cap = body_cap(ctx)
    if request.content_type == "multipart/form-data":
        if request.content_length is not None and request.content_length > cap:
            return _too_large(ctx, shown, request)  # refused before a byte is read
        try:
            form = await _read_multipart(request, cap, ctx.settings.requests.max_upload_bytes)
        except TooLarge:
            return _too_large(ctx, shown, request)
        except (BadForm, ValueError) as exc:  # ValueError: aiohttp's malformed multipart
            log.info("event=agency.bad_form reason=%s", type(exc).__name__)
            raise web.HTTPBadRequest() from None
    elif request.content_type == "application/x-www-form-urlencoded":
        posted = await request.clone(client_max_size=FIELDS_ALLOWANCE).post()
        form = ReadForm(MultiDict((k, v) for k, v in posted.items() if isinstance(v, str)), [])
    else:
        raise web.HTTPBadRequest()
    security.require_csrf(request, form.fields)
    try:
        submission, entered = validate(ctx, shown, form)
    except BadForm as exc:
        log.info("event=agency.bad_form reason=%s", exc)
        raise web.HTTPBadRequest() from None
    if submission is None:
        return _render_request(request, shown, entered)
    try:
        outcome, receipt = await links.submit(ctx, grant, submission, _client(request))
    except PermissionError:
        return session_ended_page(request)
    if outcome == "stored" and receipt is not None:
        return _receipt_page(request, receipt, shown, submission)
    if outcome == "already":
        return answered_page(request, shown.get("ref"))
    return closed_page(request)


def _sent_summary(shown: dict[str, Any], submission: links.Submission) -> list[dict[str, Any]]:
    """What the agency sent, question by question, for the confirmation page."""
    texts = {str(q["id"]): str(q["text"]) for q in shown["questions"]}
    return [
        {
            "number": n,
            "question": texts.get(a["question_id"], ""),
            "known": {True: "Yes", False: "No"}.get(a["known"], "Not said"),
            "last_contact": _friendly_date(a["last_contact"]) if a["last_contact"] else "Not given",
            "lines": a["text"].split("\n") if a["text"] else [],
        }
        for n, a in enumerate(submission.answers, start=1)
    ]


def _receipt_page(
    request: web.Request,
    receipt: dict[str, Any],
    shown: dict[str, Any],
    submission: links.Submission,
) -> web.Response:
    document = receipt["document"]
    signature = receipt["signature"]
    received = str(document.get("received_at", ""))
    try:
        at = datetime.strptime(received, "%Y-%m-%dT%H:%M:%S%z")
        tz = ZoneInfo(_ctx(request).settings.hub.timezone)
        received_local = at.astimezone(tz).strftime("%A %d %B %Y, %H:%M")
    except ValueError:
        received_local = received
    return pages.render(
        request,
        "agency/receipt.html",
        {
            "document": document,
            "signature": signature,
            "received_local": received_local,
            "kind": {
                "answered": "Answer",
                "declined": "Refusal",
                "no-information": "No information held",
            }.get(submission.kind, "Answer"),
            "answers": _sent_summary(shown, submission),
            "decline_reason_lines": submission.decline_reason.split("\n")
            if submission.decline_reason
            else [],
            "files": [name for name, _, _ in submission.attachments],
        },
    )


# --- registration --------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    """The agency pages (called by :func:`hub.web.app.build_app`)."""
    app.router.add_get("/r/{token}", landing, name="agency-landing")
    app.router.add_post("/r/{token}", renew, name="agency-renew")
    app.router.add_get("/r/{token}/code", code_form, name="agency-code-form")
    app.router.add_post("/r/{token}/code", send_code, name="agency-send-code")
    app.router.add_post("/r/{token}/verify", verify, name="agency-verify")
    app.router.add_get("/request", request_page, name="agency-request")
    app.router.add_post("/request", answer, name="agency-answer")
