"""The session: a small signed JSON object in a cookie.

Signed (HMAC-SHA256 under the ``web-session`` subkey of the hub's ``token`` key, by
:class:`hub.crypto.sessions.SessionSigner`), not encrypted: the browser can read it, so
it holds identifiers only, never personal data. It carries its own expiry, checked
against the hub's clock. Handlers read it with :func:`get_session` and ask for a change
with :func:`set_session` or :func:`clear_session`; the cookie itself is written just
before the headers are sent (:mod:`hub.web.security.responses`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hub.web.security.settings import security_of

# Browsers keep at least 4096 bytes per cookie (RFC 6265 6.1); stay well inside that.
MAX_COOKIE_BYTES = 3800


@dataclass(frozen=True)
class SessionRead:
    """This request's cookie, read once: its data (None: absent or refused)."""

    data: dict[str, Any] | None
    cookie_present: bool


@dataclass(frozen=True)
class SessionWrite:
    """What a handler asked to happen to the session cookie: data None deletes it."""

    data: dict[str, Any] | None
    max_age: int = 0


SESSION_READ = web.RequestKey("session_read", SessionRead)
SESSION_WRITE = web.ResponseKey("session_write", SessionWrite)


def get_session(request: web.Request) -> dict[str, Any] | None:
    """The verified session data, or None (no cookie, tampered, expired, other key)."""
    read = request.get(SESSION_READ)
    if read is None:
        security = security_of(request)
        raw = request.cookies.get(security.cookie_name)
        data = security.signer.unsign(raw, security.now()) if raw else None
        read = request[SESSION_READ] = SessionRead(data, raw is not None)
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
    response[SESSION_WRITE] = SessionWrite(dict(data), int(max_age))


def clear_session(response: web.StreamResponse) -> None:
    """End the session: the cookie is deleted on this response."""
    response[SESSION_WRITE] = SessionWrite(None)
