"""Walking a MIME message without trusting it: bodies, JSON parts and attachments.

The standard library parser is lenient, but reading from the tree it builds can still
raise or crawl. With ``email.policy.default`` every header access runs a structured
parser: 30-100 microseconds each (a dozen accesses per mail cost more than the rest of parsing),
quadratic on hostile values (50 kB of quotes in From: 27 s), and it raises on some (a
Message-ID of nothing but ``<``; nested comments in From hit the recursion limit).
``get_content()`` raises on unknown charsets. So we parse with ``policy.default``'s
rules for everything but header values, which read back as plain capped text, and do
the little header decoding we need (RFC 2047 words, addresses) ourselves; we decode
payloads with a charset fallback chain; and we bound nesting depth and part count.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.parser
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import EmailPolicy
from email.utils import getaddresses

from hub.domain.filenames import sanitise_filename
from hub.domain.referral import Attachment
from hub.domain.text import clean_line

# Header values are cut to this before anything parses them; real ones are far shorter.
HEADER_CHARS = 1_000
# Except these, which are legitimately long (several results, encoded words).
LONG_HEADER_CHARS = {"authentication-results": 8_000, "subject": 2_000}
MAX_MESSAGE_DEPTH = 5  # message/rfc822 inside message/rfc822...
MAX_PART_DEPTH = 20  # multipart inside multipart...
MAX_PARTS = 200
MAX_TEXT_BYTES = 2_000_000  # of one body part, before decoding
# Text read from all the body parts of one message together (``[intake] max_text_chars``).
MAX_TEXT_CHARS = 1_000_000
TEXT_CUT = "text beyond the per-message limit was not read: see the original mail"


class _PlainHeaderPolicy(EmailPolicy):
    """``email.policy.default``, but a header reads back as plain, unfolded, capped text.

    The email package's own Message methods (content type, boundary, filename) work on
    plain strings, as they do under ``compat32``; so does everything in this package.
    Raw 8-bit header bytes (not allowed, but sent) are read as UTF-8, else cp1252.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        value = value[: LONG_HEADER_CHARS.get(name.lower(), HEADER_CHARS)]
        if not value.isascii():
            value = decode_text(value.encode("utf-8", "surrogateescape"), "utf-8")
        return value.replace("\r", "").replace("\n", "")


POLICY = _PlainHeaderPolicy()


def read_message(raw: bytes) -> tuple[Message, tuple[str, ...]]:
    """Parse raw bytes; if the body defeats the parser, keep at least the headers.

    Nesting thousands of levels deep exhausts the parser's recursion; the headers alone
    still give the envelope, and the mail is then kept as a needs-triage case.
    """
    try:
        return email.message_from_bytes(raw, policy=POLICY), ()
    except Exception:  # noqa: BLE001 - RecursionError and friends, from a hostile body
        problems = ("mail structure could not be read",)
    try:
        return email.parser.BytesParser(policy=POLICY).parsebytes(raw, headersonly=True), problems
    except Exception:  # noqa: BLE001
        return Message(policy=POLICY), problems


def header(msg: Message, name: str) -> str:
    """One header's value as text ("" when absent or unreadable)."""
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:  # noqa: BLE001
        return ""


def headers(msg: Message, name: str, limit: int = 50) -> list[str]:
    """Every value of a repeated header, in order (at most ``limit``)."""
    try:
        return [str(value) for value in (msg.get_all(name) or [])[:limit]]
    except Exception:  # noqa: BLE001
        return []


# RFC 2047 encoded word: =?charset?B|Q?text?= (no spaces, no "?" inside the text).
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
_ANY_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[^?\s]*\?[^?\s]*\?=")
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"\\]{1,64}@[^\s@<>()\[\],;:\"\\]{1,255}")


def decode_words(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded, one word at a time.

    ``email.header.decode_header`` gives up on the whole header at the first bad word;
    here a broken word ("=?utf-8?B?!!?=", an unknown charset is fine) stays as typed
    and the rest still decode. Whitespace between two encoded words is dropped, as
    RFC 2047 section 6.2 says.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    position, after_word = 0, False
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        decoded = _decode_word(*match.groups())
        if not (after_word and decoded is not None and not between.strip()):
            out.append(between)
        out.append(match.group(0) if decoded is None else decoded)
        position, after_word = match.end(), decoded is not None
    out.append(value[position:])
    return "".join(out)


def _decode_word(charset: str, encoding: str, text: str) -> str | None:
    try:
        if encoding in "bB":
            data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        else:
            data = binascii.a2b_qp(text.encode("utf-8"), header=True)
    except (binascii.Error, ValueError):
        return None
    return decode_text(data, charset.split("*", 1)[0])  # "utf-8*en": RFC 2231 language


def addresses(msg: Message, name: str) -> list[str]:
    """Lower-cased addr-specs from every ``name`` header, in order; the unparseable skipped.

    Encoded words may only stand in display names and comments (RFC 2047 section 5), but
    ``getaddresses`` reads them as text, so a crafted one ("=?utf-8?Q?x:_a@b.c?=") could
    smuggle in an address. Each is replaced by a harmless atom before parsing. Anything
    that is not plainly local@domain is dropped: an allowlist must fail closed.
    """
    values = [_ANY_ENCODED_WORD.sub("x", value) for value in headers(msg, name)]
    try:
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - the old rfc822 parser, on hostile input
        return []
    found = []
    for _, address in pairs:
        if _ADDRESS.fullmatch(address):
            found.append(address.lower())
    return found


def decode_text(data: bytes, charset: str | None, cut: bool = False) -> str:
    """Bytes as text: the declared charset, else UTF-8, else Windows-1252.

    Strict decoding first, so a mislabelled body (cp1252 sent as "us-ascii" or "utf-8",
    the usual Outlook accident) falls through to the next guess instead of turning into
    replacement characters; cp1252 with ``replace`` always succeeds. Unknown charset
    names (``x-unknown-charset``) and non-text codecs ("base64") are simply skipped.
    """
    truncated = cut or len(data) > MAX_TEXT_BYTES
    data = data[:MAX_TEXT_BYTES]
    for candidate in (charset, "utf-8"):
        text = _strict_decode(data, candidate, final=not truncated) if candidate else None
        if text is not None:
            return text
    return data.decode("cp1252", errors="replace")


def _strict_decode(data: bytes, charset: str, final: bool) -> str | None:
    try:
        # final=False tolerates a character cut in half by the size cap.
        text = codecs.getincrementaldecoder(charset)().decode(data, final=final)
    except Exception:  # noqa: BLE001 - LookupError, UnicodeError, codec oddities
        return None
    return text if isinstance(text, str) else None  # "base64" is a codec, to bytes


def _payload(part: Message) -> bytes:
    """The decoded body bytes of a leaf part; broken base64 gives what can be decoded."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if isinstance(data, bytes):
        return data
    try:
        text = part.get_payload()
    except Exception:  # noqa: BLE001
        return b""
    return text.encode("utf-8", "replace") if isinstance(text, str) else b""


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001
        return None


def _content_type(part: Message) -> str:
    try:
        return clean_line(part.get_content_type(), 100).lower() or "application/octet-stream"
    except Exception:  # noqa: BLE001
        return "application/octet-stream"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        return None
    # Outlook sends RFC 2047 words in filenames, though RFC 2231 is the standard way.
    return decode_words(str(name)) if name else None


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001
        return None


@dataclass(frozen=True)
class TextBody:
    """A candidate body: decoded text, whether it is HTML, and if it came forwarded."""

    text: str
    html: bool
    forwarded: bool


@dataclass(frozen=True)
class JsonBody:
    """A candidate ``referral.json``: its bytes, and if it came inside a forwarded mail."""

    data: bytes
    forwarded: bool


@dataclass
class Parts:
    """What a mail holds, in document order, for the readers to try."""

    texts: list[TextBody] = field(default_factory=list)
    jsons: list[JsonBody] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seen: int = 0
    # Characters of body text still to be read in this message.
    text_left: int = MAX_TEXT_CHARS

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)


def collect_parts(msg: Message, max_text_chars: int = MAX_TEXT_CHARS) -> Parts:
    """Sort every part of the mail into body candidates, JSON candidates and attachments.

    Inline text/plain and text/html parts are bodies; application/json or ``*.json`` parts
    are JSON candidates and kept as attachments too; everything else (Word forms, images,
    winmail.dat) is an attachment. message/rfc822 parts are walked as forwarded mail.
    """
    parts = Parts(text_left=max_text_chars)
    _visit(msg, parts, message_depth=0, depth=0, forwarded=False)
    return parts


def _visit(part: Message, parts: Parts, message_depth: int, depth: int, forwarded: bool) -> None:
    if parts.seen >= MAX_PARTS:
        parts.problem("too many parts in the mail; the rest were not read")
        return
    parts.seen += 1
    content_type = _content_type(part)
    try:
        payload = part.get_payload()
    except Exception:  # noqa: BLE001
        payload = None
    if isinstance(payload, list):
        if content_type in ("message/rfc822", "message/global"):
            if message_depth >= MAX_MESSAGE_DEPTH:
                parts.problem("forwarded mail nested too deeply; inner parts were not read")
                return
            message_depth, forwarded = message_depth + 1, True
        elif content_type.startswith("message/"):
            return  # delivery-status and similar: header blocks, nothing of ours
        if depth >= MAX_PART_DEPTH:
            parts.problem("mail nested too deeply; inner parts were not read")
            return
        for child in payload:
            if isinstance(child, Message):
                _visit(child, parts, message_depth, depth + 1, forwarded)
        return
    _leaf(part, content_type, parts, forwarded)


def _leaf(part: Message, content_type: str, parts: Parts, forwarded: bool) -> None:
    filename = _filename(part)
    data = _payload(part)
    if content_type == "application/json" or (filename or "").lower().endswith(".json"):
        parts.jsons.append(JsonBody(data, forwarded))
    elif _disposition(part) != "attachment" and (
        content_type in ("text/plain", "text/html") or content_type.startswith("multipart/")
    ):
        # A multipart with no usable boundary arrives as one text blob: read it as text.
        _text(parts, data, _charset(part), TextBody("", content_type == "text/html", forwarded))
        return
    parts.attachments.append(Attachment(sanitise_filename(filename), content_type, data))


def _text(parts: Parts, data: bytes, charset: str | None, body: TextBody) -> None:
    """Keep a body's text, within what is left of the message's text allowance.

    At most four bytes make a character in any charset we decode, so the bytes are cut
    before decoding too: a part far over the allowance costs no more than one at it.
    """
    if parts.text_left <= 0:
        parts.problem(TEXT_CUT)
        return
    cut = len(data) > parts.text_left * 4
    text = decode_text(data[: parts.text_left * 4], charset, cut)
    if cut or len(text) > parts.text_left:
        text = text[: parts.text_left]
        parts.problem(TEXT_CUT)
    parts.text_left -= len(text)
    parts.texts.append(TextBody(text, body.html, body.forwarded))
