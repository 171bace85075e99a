"""What keeps the web pages safe: response headers, signed session cookies, CSRF tokens
and the client address for the audit trail.

Headers
    Every response (pages, errors, static files, JSON) gets the same strict set, applied
    in ``on_response_prepare`` rather than a middleware so that nothing escapes it: not a
    streamed response, not a raised ``HTTPException``, not a static file. The
    Content-Security-Policy allows only this origin and no inline code; the one inline
    script of GOV.UK's page template (it adds ``js-enabled`` to ``<body>``) is allowed by
    its SHA-256 hash (CSP Level 3, "hash-source"), never by ``'unsafe-inline'``.

Sessions
    A session is a small JSON object in a cookie, signed (HMAC-SHA256) under a subkey of
    the hub's ``token`` key with the purpose ``web-session``, derived exactly as
    :mod:`hub.crypto.tokens` derives its subkeys. It carries its own expiry, checked
    against the hub's clock. It is signed, not encrypted: the browser can read it, so it
    holds identifiers only, never personal data. The cookie is ``HttpOnly``,
    ``SameSite=Strict`` and ``Path=/``; when the hub is served over https it is also
    ``Secure`` and named with the ``__Host-`` prefix (RFC 6265bis 4.1.3.2), so no sibling
    host can plant or overwrite it. After a key rotation old sessions simply stop
    verifying: people sign in again.

    ``SameSite=Strict`` means a session cookie is *not* sent on the first request of a
    visit that starts from a link in an email (a cross-site navigation): a landing page
    must not depend on an existing session.

CSRF
    Each session holds a random token (32 bytes); forms carry it in a hidden field
    (``csrf_field()`` in templates) and POST handlers call :func:`require_csrf`. A page
    that renders a form without a session creates one holding just the token. Browsers
    that send ``Sec-Fetch-Site`` (all current ones) also have cross-site form posts
    refused outright, as a second line behind ``SameSite=Strict`` and the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.cookies import Morsel
from typing import Any

from aiohttp import web
from markupsafe import Markup

from hub.clock import Clock
from hub.crypto.keys import KeyRing

SESSION_PURPOSE = "web-session"
CSRF_FIELD = "csrf_token"
CSRF_BYTES = 32
# A session created only to carry a CSRF token (a form shown to someone not signed in).
ANONYMOUS_SESSION_SECONDS = 2 * 60 * 60
# Browsers keep at least 4096 bytes per cookie (RFC 6265 6.1); stay well inside that.
MAX_COOKIE_BYTES = 3800

# One year (RFC 6797). No includeSubDomains: the hub does not own its parent domain's
# other hosts, and pinning them to https is not its decision to make.
HSTS = "max-age=31536000"


class CsrfRejected(web.HTTPForbidden):
    """A form arrived without the session's CSRF token (or from another site).

    The error middleware renders it as the "form has expired" page.
    """


# --- headers -----------------------------------------------------------------------------


def script_hash(source: str) -> str:
    """The CSP hash-source for an inline script's exact text."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """This origin only; no inline code except the scripts whose hashes are given."""
    script_src = " ".join(["'self'", *script_hashes])
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            f"script-src {script_src}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def is_https(public_url: str) -> bool:
    return public_url.lower().startswith("https://")


def security_headers(public_url: str, script_hashes: Iterable[str] = ()) -> dict[str, str]:
    """The headers every response carries."""
    headers = {
        "Content-Security-Policy": content_security_policy(script_hashes),
        "Referrer-Policy": "no-referrer",
        # Pages hold case data and capability links: never keep them in any cache.
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        # aiohttp would announce its and Python's versions; say only what this is.
        "Server": "marrac-hub",
    }
    if is_https(public_url):
        # RFC 6797: sent over http it would be ignored anyway, and would be a lie.
        headers["Strict-Transport-Security"] = HSTS
    return headers


# --- signed values -----------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and checks session payloads under the ``web-session`` subkey."""

    def __init__(self, token_secret: bytes) -> None:
        if len(token_secret) != 32:
            raise ValueError(f"the token key must be 32 bytes, not {len(token_secret)}")
        # The same derivation as hub.crypto.tokens, with a purpose of our own.
        self._key = hmac.new(
            token_secret, b"marrac-hub:" + SESSION_PURPOSE.encode("ascii"), hashlib.sha256
        ).digest()

    @classmethod
    def from_ring(cls, ring: KeyRing) -> SessionSigner:
        return cls(ring.current("token").secret)

    def __repr__(self) -> str:  # never show key material, even in a traceback
        return "SessionSigner()"

    def _mac(self, body: str) -> str:
        return _b64url(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def sign(self, data: Mapping[str, Any], expires: int) -> str:
        """``base64url(json).base64url(mac)``: only cookie-safe characters."""
        payload = json.dumps(
            {"data": dict(data), "exp": expires}, separators=(",", ":"), sort_keys=True
        )
        body = _b64url(payload.encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def unsign(self, value: str, now: int) -> dict[str, Any] | None:
        """The data, or None when the value is malformed, forged or expired."""
        body, dot, mac = value.partition(".")
        if not dot or not body or not mac:
            return None
        try:
            body.encode("ascii")
        except UnicodeEncodeError:
            return None
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        try:
            payload = json.loads(_unb64url(body))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(payload, dict):
            return None
        data, expires = payload.get("data"), payload.get("exp")
        if not isinstance(data, dict) or isinstance(expires, bool) or not isinstance(expires, int):
            return None
        if now >= expires:  # the expiry instant is already too late, as tokens.check_expiry
            return None
        return data


# --- the app's security settings ---------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebSecurity:
    """Everything the helpers below need, built once by ``build_app``."""

    signer: SessionSigner
    clock: Clock
    headers: Mapping[str, str]
    secure_cookies: bool
    # Reverse proxies whose X-Forwarded-For is believed; empty: believe nobody.
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def cookie_name(self) -> str:
        return "__Host-marrac-session" if self.secure_cookies else "marrac-session"

    @classmethod
    def build(
        cls,
        ring: KeyRing,
        clock: Clock,
        public_url: str,
        script_hashes: Iterable[str] = (),
        trusted_proxies: Iterable[str] = (),
    ) -> WebSecurity:
        return cls(
            signer=SessionSigner.from_ring(ring),
            clock=clock,
            headers=security_headers(public_url, script_hashes),
            secure_cookies=is_https(public_url),
            trusted_proxies=tuple(ipaddress.ip_network(p) for p in trusted_proxies),
        )


SECURITY = web.AppKey("security", WebSecurity)


@dataclass(frozen=True)
class _SessionRead:
    """This request's cookie, read once: its data (None: absent or refused)."""

    data: dict[str, Any] | None
    cookie_present: bool


@dataclass(frozen=True)
class _SessionWrite:
    """What a handler asked to happen to the session cookie: data None deletes it."""

    data: dict[str, Any] | None
    max_age: int = 0


_SESSION_READ = web.RequestKey("session_read", _SessionRead)
_SESSION_WRITE = web.ResponseKey("session_write", _SessionWrite)
# A CSRF token this request minted or showed, so that the cookie written matches the page.
_CSRF_SHOWN = web.RequestKey("csrf_shown", str)
_CSRF_MINTED = web.RequestKey("csrf_minted", bool)


def _security(request: web.Request) -> WebSecurity:
    return request.config_dict[SECURITY]


def _now(security: WebSecurity) -> int:
    return int(security.clock.now().timestamp())


# --- sessions ----------------------------------------------------------------------------


def get_session(request: web.Request) -> dict[str, Any] | None:
    """The verified session data, or None (no cookie, tampered, expired, other key)."""
    read = request.get(_SESSION_READ)
    if read is None:
        security = _security(request)
        raw = request.cookies.get(security.cookie_name)
        data = security.signer.unsign(raw, _now(security)) if raw else None
        read = request[_SESSION_READ] = _SessionRead(data, raw is not None)
    return dict(read.data) if read.data is not None else None


def set_session(response: web.StreamResponse, data: Mapping[str, Any], max_age: int) -> None:
    """Replace the session with ``data`` for ``max_age`` seconds, on this response.

    ``data`` keeps its ``csrf`` token if it has one; otherwise the token shown on this
    response's page (if any) is kept, else a fresh one is made. To start a new session
    at sign-in, pass fresh data: never copy an anonymous session's contents across.
    The cookie is written just before the headers are sent.
    """
    if max_age <= 0:
        raise ValueError("max_age must be positive (use clear_session to end a session)")
    # Fail here, in the handler, rather than later while the response is being sent.
    size = len(json.dumps(dict(data), separators=(",", ":"))) * 4 // 3 + 120
    if size > MAX_COOKIE_BYTES:
        raise ValueError(f"session data too large for a cookie (about {size} bytes)")
    response[_SESSION_WRITE] = _SessionWrite(dict(data), int(max_age))


def clear_session(response: web.StreamResponse) -> None:
    """End the session: the cookie is deleted on this response."""
    response[_SESSION_WRITE] = _SessionWrite(None)


def _cookie_header(security: WebSecurity, value: str, max_age: int) -> str:
    morsel: Morsel[str] = Morsel()
    morsel.set(security.cookie_name, value, value)  # base64url and ".": nothing to quote
    morsel["path"] = "/"
    morsel["max-age"] = str(max_age)
    if max_age == 0:
        morsel["expires"] = "Thu, 01 Jan 1970 00:00:00 GMT"
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    if security.secure_cookies:
        morsel["secure"] = True
    return morsel.OutputString()


def _write_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Apply the session decision for this response (called from on_response_prepare).

    Written as a header, not with ``response.set_cookie``: by the time the prepare hook
    runs, aiohttp has already turned the response's cookies into headers.
    """
    security = _security(request)
    write = response.get(_SESSION_WRITE)
    if write is None and request.get(_CSRF_MINTED):
        # A form was shown to someone without a session: one now holds its token.
        write = _SessionWrite({"csrf": request[_CSRF_SHOWN]}, ANONYMOUS_SESSION_SECONDS)
    if write is None:
        read = request.get(_SESSION_READ)
        if read is not None and read.data is None and read.cookie_present:
            # A cookie that does not verify (tampered, expired): take it away.
            response.headers.add("Set-Cookie", _cookie_header(security, "", 0))
        return
    if write.data is None:
        response.headers.add("Set-Cookie", _cookie_header(security, "", 0))
        return
    data = dict(write.data)
    if not isinstance(data.get("csrf"), str):
        data["csrf"] = request.get(_CSRF_SHOWN) or secrets.token_urlsafe(CSRF_BYTES)
    value = security.signer.sign(data, _now(security) + write.max_age)
    response.headers.add("Set-Cookie", _cookie_header(security, value, write.max_age))


# --- CSRF --------------------------------------------------------------------------------


def csrf_token(request: web.Request) -> str:
    """This session's CSRF token; a session holding a new one is made if there is none."""
    if _CSRF_SHOWN in request:
        return request[_CSRF_SHOWN]
    session = get_session(request)
    token: object = session.get("csrf") if session else None
    if not isinstance(token, str):
        token = secrets.token_urlsafe(CSRF_BYTES)
        request[_CSRF_MINTED] = True
    request[_CSRF_SHOWN] = token
    return token


def csrf_field(request: web.Request) -> Markup:
    """The hidden form field for templates: ``{{ csrf_field() }}`` inside every form."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, csrf_token(request)
    )


def require_csrf(request: web.Request, form: Mapping[str, Any]) -> None:
    """Refuse (403, rendered as the error page) a form without this session's token.

    Call it first thing in every POST handler, with ``await request.post()``.
    """
    # Fetch metadata (W3C): a browser tells us when a form came from another site.
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise CsrfRejected()
    session = get_session(request)
    expected = session.get("csrf") if session else None
    given = form.get(CSRF_FIELD)
    if not isinstance(expected, str) or not isinstance(given, str):
        raise CsrfRejected()
    if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
        raise CsrfRejected()


# --- the client's address ----------------------------------------------------------------


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: web.Request) -> str | None:
    """The client's address for the audit trail.

    The peer address, unless the peer is a configured trusted proxy: then the nearest
    address in ``X-Forwarded-For`` that is not itself a trusted proxy (the ones further
    left were written by the client and prove nothing).
    """
    remote = request.remote
    networks = _security(request).trusted_proxies
    if remote is None or not networks or not _trusted(remote, networks):
        return remote
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # garbled: believe only what we saw ourselves
        if not _trusted(hop, networks):
            return hop
    return remote


# --- the hook ----------------------------------------------------------------------------


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers and the session cookie, on every response before it is sent."""
    security = _security(request)
    for name, value in security.headers.items():
        response.headers[name] = value
    _write_cookie(request, response)
