"""A raw message looked at without parsing it: its header section and how to know it again.

Intake and the replies mailbox both record every message under a hash of its Message-ID
and a fingerprint of its content, so that the same message delivered twice (a second
copy, a retried delivery with new ``Received`` lines) is recognised as the same.
"""

from __future__ import annotations

import hashlib

# A header section with no blank line after it is cut here before a headers-only parse.
MAX_HEADER_BYTES = 65_536
_BLANK_LINES = (b"\r\n\r\n", b"\n\n")

# Header fields that each hop adds on delivery (RFC 5321 4.4 trace fields and their
# vendor cousins): two deliveries of the same message differ only in these.
TRACE_FIELDS = (
    b"received:",
    b"return-path:",
    b"delivered-to:",
    b"x-original-to:",
    b"authentication-results:",
    b"arc-",
    b"x-spam",
    b"x-virus",
    b"x-ms-exchange-organization",
    b"x-envelope-",
    b"x-delivered",
)


def _header_end(raw: bytes) -> int:
    """Where the first blank line (CRLF or bare LF) starts, or -1 when there is none."""
    found = [at for at in (raw.find(blank) for blank in _BLANK_LINES) if at != -1]
    return min(found, default=-1)


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    """The header section, and the rest from the blank line that ends it (RFC 5322
    section 2.1); all header and no body when there is no blank line."""
    cut = _header_end(raw)
    return (raw[:cut], raw[cut:]) if cut != -1 else (raw, b"")


def header_block(raw: bytes) -> bytes:
    """The header section with the blank line that ends it: what a message too large to
    read whole is read for. Without a blank line, the first :data:`MAX_HEADER_BYTES`."""
    head, rest = split_header(raw)
    if not rest:
        return raw[:MAX_HEADER_BYTES]
    blank = next(blank for blank in _BLANK_LINES if rest.startswith(blank))
    return head + blank


def content_fingerprint(raw: bytes) -> str:
    """SHA-256 of a message minus its trace header fields, so that the same message
    delivered twice (with new Received lines) is recognised as the same."""
    head, body = split_header(raw)
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the field above
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(TRACE_FIELDS)
        if not skipping:
            kept.append(line)
    return hashlib.sha256(b"".join(kept) + body).hexdigest()


def normalise_message_id(value: str | None) -> str | None:
    """A Message-ID as sent, angle brackets kept, whitespace (from folding) removed;
    ``None`` when there is none."""
    normalised = "".join((value or "").split())
    return normalised or None


def message_id_hash(message_id: str | None) -> str:
    """SHA-256 of the normalised Message-ID (of "" when there is none): what the record of
    a message keeps, so a copy can be found without storing the identifier itself."""
    return hashlib.sha256((normalise_message_id(message_id) or "").encode()).hexdigest()
