"""Reading an agency's emailed reply to a request: where it was sent and what it says.

The reply is filed sealed with its raw bytes, so nothing here must succeed: an address
that cannot be read simply does not match, and a body that cannot be read is kept as "".
"""

from __future__ import annotations

import re

from hub.mail.htmltext import html_to_text
from hub.mail.mime import MAX_TEXT_CHARS, collect_parts, read_message
from hub.mail.rawmail import split_header

# The text of a reply kept beside its sealed original; longer replies are cut here.
MAX_REPLY_CHARS = 200_000
# Headers that may carry the plus address a reply was sent to: the visible ones, and the
# ones the receiving server adds when the address was only on the envelope (Bcc, lists).
RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
# Bounded parts, and a match starts only where a run of address characters starts: an
# unbounded local part re-scanned a long run from each of its characters (quadratic).
_ADDRESS = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,255}")
_UNFOLDED_LINE = re.compile(r"\r?\n(?![ \t])")


def recipient_addresses(raw: bytes) -> list[str]:
    """Every address in the recipient headers of ``raw``, in order, as written.

    A plain scan of the header section rather than a parse, so that a malformed message
    still shows the address it came to; the caller verifies each candidate (a keyed MAC),
    so a false candidate costs nothing.
    """
    head = split_header(raw)[0].decode("latin-1")
    found: list[str] = []
    for line in _UNFOLDED_LINE.split(head):
        name, _, value = line.partition(":")
        if name.strip().lower() in RECIPIENT_HEADERS:
            found += _ADDRESS.findall(value)
    return found


def reply_text(raw: bytes, max_text_chars: int = MAX_TEXT_CHARS) -> str:
    """The readable text of a reply: its plain-text bodies, else its HTML bodies as text,
    from at most ``max_text_chars`` of body text.

    Quoted history is kept (it shows what was asked). Never raises (but for running out
    of memory): "" when the mail cannot be read, since the sealed raw mail is kept.
    """
    try:
        message, _ = read_message(raw)
        texts = collect_parts(message, max_text_chars).texts
        plain = [body.text for body in texts if not body.html]
        return "\n\n".join(plain or [html_to_text(body.text) for body in texts])[:MAX_REPLY_CHARS]
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - the sealed raw mail is kept regardless
        return ""
