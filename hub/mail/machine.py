"""Recognising mail a machine sent: auto-replies, out-of-office notices and bounces.

Such mail must never open a case and must never be answered (RFC 3834 section 2: an
automatic response to an automatic response is how mail loops start). Each rule below
looks for a header a machine sets and a person never does; a subject line alone is not
enough, because a person may well write "Out of office cover: MARRAC referral".

``X-Auto-Response-Suppress`` is a request *to others* not to auto-reply; Outlook and
many ticketing systems put it on ordinary mail too, so it only counts together with an
auto-reply subject. The same goes for a null ``Return-Path``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message

from hub.domain.text import clean_line
from hub.mail.mime import addresses, header

_PRECEDENCE = frozenset(("bulk", "junk", "list", "auto_reply"))
_DECLARED_AUTOREPLY = ("X-Autoreply", "X-Autorespond")
_FALSE = frozenset(("no", "false", "0", "off"))
_DAEMONS = frozenset(("mailer-daemon", "postmaster"))
# Subjects auto-responders and MTAs write, at the start of the subject.
_AUTO_SUBJECT = re.compile(
    r"\s*(?:out of (?:the )?office|automatic reply|auto[- ]?reply|auto(?:matic)? response"
    r"|autoresponse|auto:|undeliverable|undelivered mail|delivery status notification"
    r"|delivery failure|delivery has failed|mail delivery failed|returned mail"
    r"|failure notice|message not delivered|non-?delivery|abwesenheit|réponse automatique)",
    re.IGNORECASE,
)


def _token(value: str) -> str:
    """The first word of a header value, lower-cased and bounded (safe to log)."""
    words = value.split(";", 1)[0].split()
    return clean_line(words[0].lower(), 40) if words else ""


def _has(msg: Message, name: str) -> bool:
    try:
        return name in msg
    except Exception:  # noqa: BLE001
        return False


def _from_daemon(msg: Message) -> bool:
    return any(address.split("@", 1)[0] in _DAEMONS for address in addresses(msg, "From"))


def is_machine_mail(msg: Message) -> str | None:
    """Why ``msg`` was sent by a machine ("auto-submitted: auto-replied"), else ``None``.

    Signals, strongest first: ``Auto-Submitted`` other than "no" (RFC 3834 section 5);
    ``Precedence: bulk|junk|list|auto_reply``; ``X-Autoreply``/``X-Autorespond``;
    a multipart/report (RFC 6522: delivery and read receipts); ``X-Failed-Recipients``
    (Exim bounces); MAILER-DAEMON or postmaster with a null Return-Path (RFC 5321 4.5.5);
    and an auto-reply subject together with a null Return-Path, a daemon sender or
    ``X-Auto-Response-Suppress``. The reason names the signal, never an address.
    """
    for signal in _SIGNALS:
        reason = signal(msg)
        if reason is not None:
            return reason
    return None


def _auto_submitted(msg: Message) -> str | None:
    """RFC 3834 section 5: any value but "no" marks an automatic message."""
    auto_submitted = _token(header(msg, "Auto-Submitted"))
    if auto_submitted and auto_submitted != "no":
        return f"auto-submitted: {auto_submitted}"
    return None


def _precedence(msg: Message) -> str | None:
    precedence = _token(header(msg, "Precedence"))
    return f"precedence: {precedence}" if precedence in _PRECEDENCE else None


def _declared_autoreply(msg: Message) -> str | None:
    for name in _DECLARED_AUTOREPLY:
        if _has(msg, name) and _token(header(msg, name)) not in _FALSE:
            return f"{name.lower()} header"
    return None


def _report(msg: Message) -> str | None:
    """RFC 6522: delivery status notifications and read receipts are multipart/report."""
    if _token(header(msg, "Content-Type")) != "multipart/report":
        return None
    try:
        report = clean_line(str(msg.get_param("report-type") or "unknown"), 40).lower()
    except Exception:  # noqa: BLE001
        report = "unknown"
    return f"report: {report}"


def _failed_recipients(msg: Message) -> str | None:
    return "bounce: x-failed-recipients" if _has(msg, "X-Failed-Recipients") else None


def _null_return_path(msg: Message) -> bool:
    return "".join(header(msg, "Return-Path").split()) == "<>"


def _daemon_bounce(msg: Message) -> str | None:
    """RFC 5321 section 4.5.5: a bounce comes from the null reverse-path."""
    if _from_daemon(msg) and _null_return_path(msg):
        return "bounce: mailer-daemon with null return-path"
    return None


def _auto_reply_subject(msg: Message) -> str | None:
    """An auto-reply subject counts only beside a header a person's mail never has."""
    if not _AUTO_SUBJECT.match(header(msg, "Subject")):
        return None
    if _null_return_path(msg):
        return "auto-reply subject with null return-path"
    if _from_daemon(msg):
        return "auto-reply subject from mailer-daemon"
    if _has(msg, "X-Auto-Response-Suppress"):
        return "auto-reply subject with x-auto-response-suppress"
    return None


# Strongest first: the first signal found is the reason given.
_SIGNALS: tuple[Callable[[Message], str | None], ...] = (
    _auto_submitted,
    _precedence,
    _declared_autoreply,
    _report,
    _failed_recipients,
    _daemon_bounce,
    _auto_reply_subject,
)
