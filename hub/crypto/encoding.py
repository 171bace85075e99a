"""Unpadded base64url (RFC 4648 section 5), the one text form of bytes in tokens,
cookies, signatures and key documents."""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url(data: bytes) -> str:
    """``data`` as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """The bytes behind unpadded (or padded) base64url text; raises ``ValueError`` for
    anything else, including characters outside the alphabet (which the standard
    library's urlsafe decoder would silently drop)."""
    if not _ALPHABET.fullmatch(text):
        raise ValueError("not base64url: a character outside A-Z a-z 0-9 - _")
    try:
        padded = text + "=" * (-len(text) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


def is_canonical_b64url(text: str) -> bool:
    """True when ``text`` is exactly what :func:`b64url` writes for its bytes (no padding,
    no stray bits), so two spellings of one value cannot both be accepted."""
    try:
        return b64url(unb64url(text)) == text
    except ValueError:
        return False
