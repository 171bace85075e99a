"""Signed session values and CSRF tokens for the web pages (STYLE.md habit 8).

A session is a small JSON object signed with HMAC-SHA256 under the subkey of the hub's
``token`` key for the purpose ``web-session`` (:func:`hub.crypto.tokens.derive_subkey`,
so a session MAC can never pass for a link hash or a reply address). The value carries
its own expiry, checked against the ``now`` the caller passes. It is signed, not
encrypted: whoever holds it can read it, so it holds identifiers only. After a key
rotation old values simply stop verifying.

Anything that is not a value we signed, unexpired, is an ordinary ``None``: malformed,
forged, expired and other-key values are not told apart (no oracle), and nothing raises.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from hub.crypto.encoding import b64url, unb64url
from hub.crypto.keys import KeyRing
from hub.crypto.tokens import PURPOSE_WEB_SESSION, derive_subkey

SESSION_PURPOSE = PURPOSE_WEB_SESSION
CSRF_BYTES = 32


class SessionSigner:
    """Signs and checks session payloads under the ``web-session`` subkey."""

    def __init__(self, token_secret: bytes) -> None:
        if len(token_secret) != 32:
            raise ValueError(f"the token key must be 32 bytes, not {len(token_secret)}")
        self._key = derive_subkey(token_secret, SESSION_PURPOSE)

    @classmethod
    def from_ring(cls, ring: KeyRing) -> SessionSigner:
        """A signer under the ring's active ``token`` key."""
        return cls(ring.current("token").secret)

    def __repr__(self) -> str:  # never show key material, even in a traceback
        return "SessionSigner()"

    def _mac(self, body: str) -> str:
        return b64url(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def sign(self, data: Mapping[str, Any], expires: int) -> str:
        """``base64url(json).base64url(mac)``: only cookie-safe characters. ``expires`` is
        a Unix time in seconds."""
        payload = json.dumps(
            {"data": dict(data), "exp": expires}, separators=(",", ":"), sort_keys=True
        )
        body = b64url(payload.encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def unsign(self, value: str, now: int) -> dict[str, Any] | None:
        """The data, or None when the value is malformed, forged or expired."""
        body, dot, mac = value.partition(".")
        if not dot or not body or not mac or not (body.isascii() and mac.isascii()):
            return None
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        return _unexpired_data(body, now)


def _unexpired_data(body: str, now: int) -> dict[str, Any] | None:
    """The data of a signed body, unless it is not a session or its time is up."""
    try:
        payload = json.loads(unb64url(body))
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    data, expires = payload.get("data"), payload.get("exp")
    if not isinstance(data, dict) or isinstance(expires, bool) or not isinstance(expires, int):
        return None
    # The expiry instant is already too late, as hub.crypto.tokens.check_expiry.
    return data if now < expires else None


def new_csrf_token() -> str:
    """A fresh CSRF token: 32 random bytes as base64url."""
    return secrets.token_urlsafe(CSRF_BYTES)


def same_token(expected: str, given: str) -> bool:
    """Whether two secrets are equal, in time that does not depend on where they differ."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
