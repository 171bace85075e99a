"""What keeps the web pages safe: response headers, signed session cookies, CSRF tokens
and the client address for the audit trail.

Modules, by reason to change
    ``headers``    the strict header set and Content-Security-Policy of every response
    ``sessions``   the signed session in a cookie: read it, ask for it to change
    ``csrf``       a token per session in every form, checked on every POST
    ``responses``  the hook that adds headers and writes the cookie before sending
    ``clients``    the client's address, behind trusted proxies
    ``settings``   what they all need, built once by ``build_app``

Signing and constant-time comparison are :mod:`hub.crypto.sessions`'s: nothing here
touches a key. After a key rotation old sessions simply stop verifying: people sign in
again.
"""

from __future__ import annotations

from hub.crypto.sessions import CSRF_BYTES, SESSION_PURPOSE, SessionSigner
from hub.web.security.clients import client_ip
from hub.web.security.csrf import CSRF_FIELD, CsrfRejected, csrf_field, csrf_token, require_csrf
from hub.web.security.headers import (
    HSTS,
    content_security_policy,
    is_https,
    script_hash,
    security_headers,
)
from hub.web.security.responses import ANONYMOUS_SESSION_SECONDS, on_response_prepare
from hub.web.security.sessions import (
    MAX_COOKIE_BYTES,
    clear_session,
    get_session,
    set_session,
)
from hub.web.security.settings import SECURITY, Network, WebSecurity

__all__ = [
    "ANONYMOUS_SESSION_SECONDS",
    "CSRF_BYTES",
    "CSRF_FIELD",
    "HSTS",
    "MAX_COOKIE_BYTES",
    "SECURITY",
    "SESSION_PURPOSE",
    "CsrfRejected",
    "Network",
    "SessionSigner",
    "WebSecurity",
    "clear_session",
    "client_ip",
    "content_security_policy",
    "csrf_field",
    "csrf_token",
    "get_session",
    "is_https",
    "on_response_prepare",
    "require_csrf",
    "script_hash",
    "security_headers",
    "set_session",
]
