"""From raw mail bytes to a :class:`ParsedMail`: the envelope and the referral inside.

Readers are tried from the most to the least structured: a schema-valid ``referral.json``,
then the plain-text form in a text body, then the form in an HTML body. The first that
finds a referral wins; when none does, the result says so (``source="none"``) and the
mail still becomes a needs-triage case with its attachments.

``parse_mail`` is total: whatever the bytes, it returns. An intake loop must never stop,
or lose a referral, because one mail was malformed (STYLE.md, habit 2).
"""

from __future__ import annotations

from dataclasses import replace
from email.message import Message
from email.utils import parsedate_to_datetime

from hub.domain.referral import Referral
from hub.domain.text import clean_line
from hub.mail.envelope import ParsedMail
from hub.mail.form import read_form
from hub.mail.htmltext import html_to_text
from hub.mail.jsonform import read_json
from hub.mail.machine import is_machine_mail
from hub.mail.mime import (
    MAX_TEXT_CHARS,
    addresses,
    collect_parts,
    decode_words,
    header,
    headers,
    read_message,
)
from hub.mail.rawmail import normalise_message_id

MAX_SUBJECT_CHARS = 300
NO_FORM = "no referral form found in the mail"


def parse_mail(raw: bytes, max_text_chars: int = MAX_TEXT_CHARS) -> ParsedMail:
    """Read one raw RFC 5322 message, at most ``max_text_chars`` of its body text (the
    rest is noted as a problem). Never raises, but for running out of memory.

    Every step guards itself; this last ``except`` is for the bug nobody foresaw, and it
    still hands back a mail intake can keep (as needs-triage, with the raw bytes). A
    ``MemoryError`` goes on up: the worker reading the mail reports its budget exceeded.
    """
    try:
        return _parse(bytes(raw), max_text_chars)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - total by contract; see docstring
        referral = Referral(source="none", parse_problems=(NO_FORM, "mail could not be read"))
        return ParsedMail(message_id=None, sender=None, subject="", referral=referral)


def _parse(raw: bytes, max_text_chars: int) -> ParsedMail:
    msg, problems = read_message(raw)
    sender = _first(addresses(msg, "From"))
    return ParsedMail(
        message_id=_message_id(msg),
        sender=sender,
        subject=clean_line(decode_words(header(msg, "Subject")), MAX_SUBJECT_CHARS),
        referral=_referral(msg, sender, list(problems), max_text_chars),
        machine_reason=is_machine_mail(msg),
        auth_results=tuple(headers(msg, "Authentication-Results")),
        reply_to=tuple(addresses(msg, "Reply-To")[:10]),
    )


def _message_id(msg: Message) -> str | None:
    """The Message-ID as sent, angle brackets kept, whitespace (from folding) removed."""
    return normalise_message_id(clean_line(header(msg, "Message-ID"), 998))


def _first(addresses: list[str]) -> str | None:
    return addresses[0] if addresses else None


def _year_sent(msg: Message) -> int | None:
    """The year in the Date header: how the form's two-digit years are read."""
    try:
        year = parsedate_to_datetime(header(msg, "Date")).year
    except Exception:  # noqa: BLE001 - absent or malformed Date
        return None
    return year if 1970 <= year <= 2200 else None


def _referral(
    msg: Message, sender: str | None, problems: list[str], max_text_chars: int
) -> Referral:
    """The referral a mail carries, read by the first reader that finds one."""
    parts = collect_parts(msg, max_text_chars)
    problems.extend(parts.problems)
    referral: Referral | None = None
    forwarded = False
    for candidate in parts.jsons:
        reading = read_json(candidate.data)
        if reading.referral is not None:
            referral, forwarded = reading.referral, candidate.forwarded
            break
        if reading.problem:
            problems.append(reading.problem)
    if referral is None:
        year = _year_sent(msg)
        # Plain text first: when a mail has both, the text part is what the officer typed.
        for body in sorted(parts.texts, key=lambda body: body.html):
            form = read_form(html_to_text(body.text) if body.html else body.text, year)
            if form is not None:
                source = "html-form" if body.html else "form"
                referral = replace(form.referral, source=source)
                forwarded = body.forwarded or form.forwarded
                break
    if referral is None:
        referral = Referral(source="none", parse_problems=(NO_FORM,))
    return replace(
        referral,
        attachments=tuple(parts.attachments),
        parse_problems=tuple(dict.fromkeys((*referral.parse_problems, *problems))),
        forwarded_by=sender if forwarded else None,
    )
