"""Capabilities: link tokens, reply-address MACs and one-time codes (STYLE.md habit 8).

An agency without shared IT reaches its one request through a link, proves it holds the
registered mailbox with a six-digit code mailed there, and may answer by replying to a
plus-address that names the request. Each of these is a secret or a forgery risk, so:

- every use has its own key, derived from the hub's ``token`` key with a purpose string
  (:func:`derive_subkey`), so a value minted for one use is worthless for another and a
  leaked subkey reveals nothing about the others (web sessions, :mod:`hub.crypto.sessions`,
  derive theirs the same way);
- the database holds only keyed hashes of tokens and codes: someone who reads a backup can
  neither use a link nor test guesses against it without the key;
- comparisons are constant-time (:func:`hmac.compare_digest`);
- malformed input is an ordinary "no", never an exception that a web handler must catch.

Expiry, attempt limits and revocation belong to the caller, which knows ``now`` and holds
the rows; :func:`check_expiry` is the one rule about time kept here so every caller agrees
on the boundary.

Exceptions::

    TokenError(Exception)
     +-- TokenInvalid    malformed token or code (never says more: no oracle)
     +-- TokenExpired    a genuine token used after its expiry
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from hub.crypto.encoding import b64url, is_canonical_b64url
from hub.crypto.keys import KeyRing

TOKEN_BYTES = 32  # 256 bits; at least 128 are required for an unguessable link
CODE_DIGITS = 6
REPLY_MAC_CHARS = 16  # base32: 80 bits, plenty against forging a reply address

# Purposes with a subkey of their own inside every TokenService; link tokens may not use
# these names, or a link hash and a reply MAC would share a key.
PURPOSE_REPLY_ADDRESS = "reply-address"
PURPOSE_ONE_TIME_CODE = "one-time-code"
PURPOSE_WEB_SESSION = "web-session"  # hub.crypto.sessions signs session cookies with it
PURPOSE_AUDIT_CHAIN = "audit-chain"  # hub.crypto.chain links the audit trail with it
RESERVED_PURPOSES = frozenset(
    {PURPOSE_REPLY_ADDRESS, PURPOSE_ONE_TIME_CODE, PURPOSE_WEB_SESSION, PURPOSE_AUDIT_CHAIN}
)

_PURPOSE = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes in base64url, no padding
_HASH = re.compile(r"[0-9a-f]{64}")
_CODE = re.compile(r"[0-9]{6}")
_REPLY_DETAIL = re.compile(r"([1-9][0-9]{0,17})\.([a-z2-7]{16})")


class TokenError(Exception):
    """A capability was refused."""


class TokenInvalid(TokenError):
    """The token or code is malformed or does not match. Deliberately vague."""


class TokenExpired(TokenError):
    """The token is genuine but its time is up."""


def derive_subkey(secret: bytes, purpose: str) -> bytes:
    """The 32-byte key for one use of the hub's ``token`` key:
    ``HMAC-SHA256(secret, b"marrac-hub:" + purpose)``.

    HMAC keyed by the secret is a pseudorandom function (the property HKDF, RFC 5869,
    rests on), so subkeys for different purposes are independent and none reveals the
    secret or another subkey. Changing this invalidates every stored token hash, reply
    address and session: it is fixed.
    """
    return hmac.new(secret, b"marrac-hub:" + purpose.encode("ascii"), hashlib.sha256).digest()


def _is_token(token: object) -> bool:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return False
    # 43 characters carry 2 spare bits: accept only the one spelling we could have issued.
    return is_canonical_b64url(token)


def _check_request_id(request_id: int) -> int:
    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 1:
        raise ValueError(f"request id must be a positive integer, not {request_id!r}")
    return request_id


def check_expiry(expires_at: datetime, now: datetime) -> None:
    """Raise :class:`TokenExpired` when ``now`` has reached ``expires_at``.

    The expiry instant itself is already too late (as JWT ``exp``, RFC 7519 4.1.4: valid
    only *before* it). Both times must be timezone-aware.
    """
    if expires_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("check_expiry needs timezone-aware datetimes")
    if now >= expires_at:
        raise TokenExpired("this link has expired")


class TokenService:
    """Mints and checks capabilities for one purpose (e.g. ``"request-link"``).

    Built from the 32-byte ``token`` key; it keeps only the derived subkeys.
    """

    def __init__(self, secret: bytes, purpose: str) -> None:
        if len(secret) != 32:
            raise ValueError(f"the token key must be 32 bytes, not {len(secret)}")
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError(
                f"purpose {purpose!r} must be 1-64 of a-z, 0-9, '.', '-' (starting alphanumeric)"
            )
        if purpose in RESERVED_PURPOSES:
            raise ValueError(f"purpose {purpose!r} is reserved for the hub's own use")
        self.purpose = purpose
        self._link_key = derive_subkey(secret, purpose)
        self._reply_key = derive_subkey(secret, PURPOSE_REPLY_ADDRESS)
        self._code_key = derive_subkey(secret, PURPOSE_ONE_TIME_CODE)

    @classmethod
    def from_ring(cls, ring: KeyRing, purpose: str) -> TokenService:
        """A service under the ring's active ``token`` key."""
        return cls(ring.current("token").secret, purpose)

    @classmethod
    def every_key(cls, ring: KeyRing, purpose: str) -> list[TokenService]:
        """A service under each ``token`` key, the current one first: after ``keys rotate
        token`` new capabilities use the new key, and those issued before are checked
        under the key that minted them, so they keep working until they expire."""
        return [cls(key.secret, purpose) for key in ring.all("token")]

    def __repr__(self) -> str:  # never show key material, even in a traceback
        return f"TokenService(purpose={self.purpose!r})"

    # --- link tokens ---------------------------------------------------------------------

    def new_link_token(self) -> tuple[str, str]:
        """A fresh ``(token, token_hash)``: mail the token, store only the hash."""
        token = b64url(secrets.token_bytes(TOKEN_BYTES))
        return token, self.hash_token(token)

    def hash_token(self, token: str) -> str:
        """The stored form of ``token`` (hex HMAC-SHA256 under this purpose's subkey).

        Raises :class:`TokenInvalid` for anything that is not a token this hub could have
        issued, so a lookup by hash never runs on garbage.
        """
        if not _is_token(token):
            raise TokenInvalid("not a valid link token")
        return hmac.new(self._link_key, token.encode("ascii"), hashlib.sha256).hexdigest()

    def verify(self, token: str, stored_hash: str) -> bool:
        """Does ``token`` match ``stored_hash``? Constant-time; False for malformed input."""
        if not isinstance(stored_hash, str) or not _HASH.fullmatch(stored_hash):
            return False
        try:
            candidate = self.hash_token(token)
        except TokenInvalid:
            return False
        return hmac.compare_digest(candidate, stored_hash)

    # --- reply addresses -----------------------------------------------------------------

    def _reply_mac(self, request_id: int) -> str:
        digest = hmac.new(self._reply_key, str(request_id).encode("ascii"), hashlib.sha256)
        return base64.b32encode(digest.digest()).decode("ascii").lower()[:REPLY_MAC_CHARS]

    def reply_address(self, local: str, domain: str, request_id: int) -> str:
        """``local+<id>.<mac>@domain``: a Reply-To that names the request and cannot be
        forged for another one (RFC 5233 sub-addressing)."""
        _check_request_id(request_id)
        if not local or "@" in local or "+" in local:
            raise ValueError(f"bad local part {local!r} (no '@' or '+' allowed)")
        if not domain or "@" in domain:
            raise ValueError(f"bad domain {domain!r}")
        return f"{local}+{request_id}.{self._reply_mac(request_id)}@{domain}"

    def parse_reply_address(self, address: str, local: str, domain: str) -> int | None:
        """The request id in a reply address we issued, or None for anything else.

        Domain and local part compare case-insensitively (mail systems fold case); the
        MAC is checked in constant time. Forged, garbled, non-canonical (``+042.``) or
        other-domain addresses all give None.
        """
        if not isinstance(address, str):
            return None
        addr_local, at, addr_domain = address.strip().rpartition("@")
        if not at or addr_domain.lower().rstrip(".") != domain.lower().rstrip("."):
            return None
        base, plus, detail = addr_local.partition("+")
        if not plus or base.lower() != local.lower():
            return None
        match = _REPLY_DETAIL.fullmatch(detail.lower())
        if match is None:
            return None
        request_id = int(match.group(1))
        if not hmac.compare_digest(self._reply_mac(request_id), match.group(2)):
            return None
        return request_id

    # --- one-time codes ------------------------------------------------------------------

    @staticmethod
    def one_time_code() -> str:
        """Six uniform random digits (``randbelow``: no modulo bias), leading zeros kept."""
        return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"

    @staticmethod
    def _normalise_code(code: str) -> str:
        # People type "123 456" or "123-456" from the mail; the digits are what count.
        cleaned = code.replace(" ", "").replace("-", "") if isinstance(code, str) else ""
        if not _CODE.fullmatch(cleaned):
            raise TokenInvalid("a code is six digits")
        return cleaned

    def hash_code(self, code: str, request_id: int) -> str:
        """The stored form of a one-time code, bound to its request: the same digits for
        another request hash differently. Raises :class:`TokenInvalid` if malformed."""
        digits = self._normalise_code(code)
        message = f"{_check_request_id(request_id)}:{digits}".encode("ascii")
        return hmac.new(self._code_key, message, hashlib.sha256).hexdigest()

    def verify_code(self, code: str, request_id: int, stored_hash: str) -> bool:
        """Does ``code`` match ``stored_hash`` for this request? Constant-time; False for
        malformed input. Counting tries and expiry are the caller's job."""
        if not isinstance(stored_hash, str) or not _HASH.fullmatch(stored_hash):
            return False
        try:
            candidate = self.hash_code(code, request_id)
        except TokenInvalid:
            return False
        return hmac.compare_digest(candidate, stored_hash)
