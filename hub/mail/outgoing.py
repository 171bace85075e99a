"""Writing outgoing mail: a :class:`~hub.domain.notices.Notice` in, RFC 5322 bytes out.

Pure (no clock, no settings): the caller passes the From address, the Message-ID and the
Date it fixed when the notice was queued, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime

from hub.domain.notices import Notice

# A Message-ID we echo back must be one token: no spaces, no line breaks (no injection).
_SAFE_ID = re.compile(r"<[\x21-\x3d\x3f-\x7e]{1,250}>")


def build_message(from_address: str, notice: Notice, message_id: str, date: datetime) -> bytes:
    """The message as sent, written out directly: the texts and addresses are ours
    (validated, no line breaks), so the email package's generator, which costs more than
    all of intake's database work together, is not needed."""
    lines = [
        f"{name}: {_header_value(value)}"
        for name, value in _headers(from_address, notice, message_id, date)
    ]
    body = notice.body.replace("\r\n", "\n").replace("\n", "\r\n")
    if notice.attachments:
        return _with_attachments(lines, body, notice.attachments)
    if body.isascii():
        lines += [
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
            "Content-Transfer-Encoding: 7bit",
        ]
        payload = body.encode("ascii")
    else:
        lines += [
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ]
        payload = base64.encodebytes(body.encode()).replace(b"\n", b"\r\n")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + payload


def _headers(
    from_address: str, notice: Notice, message_id: str, date: datetime
) -> list[tuple[str, str]]:
    headers = [
        ("From", from_address),
        ("To", notice.recipient),
        ("Subject", notice.subject),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        # RFC 3834: tell auto-responders not to answer us, so no mail loop can start.
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
    ]
    if notice.reply_to:
        headers.append(("Reply-To", notice.reply_to))
    if notice.in_reply_to and _SAFE_ID.fullmatch(notice.in_reply_to):
        headers += [("In-Reply-To", notice.in_reply_to), ("References", notice.in_reply_to)]
    return headers


def _header_value(value: str) -> str:
    """One line, ASCII: no CR/LF can reach a header (no injection); other text is
    encoded as an RFC 2047 encoded-word."""
    value = " ".join(value.split())
    if not value.isascii():
        value = Header(value, "utf-8").encode()
    return value


def _with_attachments(
    lines: list[str], body: str, attachments: tuple[tuple[str, str, bytes], ...]
) -> bytes:
    """multipart/mixed: the text, then each attachment in base64 (rare: the email
    package's cost does not matter here)."""
    outer = MIMEMultipart()
    outer.attach(MIMEText(body.replace("\r\n", "\n"), "plain", "utf-8"))
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        part = MIMEBase(maintype or "application", subtype or "octet-stream")
        part.set_payload(data)
        encoders.encode_base64(part)
        part.add_header("Content-Disposition", "attachment", filename=filename)
        outer.attach(part)
    head = "\r\n".join(lines) + "\r\nMIME-Version: 1.0\r\n"
    rendered = outer.as_bytes().replace(b"MIME-Version: 1.0\n", b"", 1)
    return head.encode("ascii") + rendered.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
