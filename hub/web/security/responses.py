"""What every response gets just before it is sent: the security headers and the
session cookie.

The cookie is ``HttpOnly``, ``SameSite=Strict`` and ``Path=/``; when the hub is served
over https it is also ``Secure`` and named with the ``__Host-`` prefix (RFC 6265bis
4.1.3.2), so no sibling host can plant or overwrite it. ``SameSite=Strict`` means the
cookie is *not* sent on the first request of a visit that starts from a link in an email
(a cross-site navigation): a landing page must not depend on an existing session.
"""

from __future__ import annotations

from http.cookies import Morsel

from aiohttp import web

from hub.crypto.sessions import new_csrf_token
from hub.web.security.csrf import CSRF_MINTED, CSRF_SHOWN
from hub.web.security.sessions import SESSION_READ, SESSION_WRITE, SessionWrite
from hub.web.security.settings import WebSecurity, security_of

# A session created only to carry a CSRF token (a form shown to someone not signed in).
ANONYMOUS_SESSION_SECONDS = 2 * 60 * 60


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


def _session_write(request: web.Request, response: web.StreamResponse) -> SessionWrite | None:
    """What to do with the cookie: what the handler asked, else keep the token of a form
    shown to someone without a session, else delete a cookie that did not verify
    (tampered, expired), else nothing (None)."""
    write = response.get(SESSION_WRITE)
    if write is None and request.get(CSRF_MINTED):
        # A form was shown to someone without a session: one now holds its token.
        write = SessionWrite({"csrf": request[CSRF_SHOWN]}, ANONYMOUS_SESSION_SECONDS)
    if write is None:
        read = request.get(SESSION_READ)
        if read is not None and read.data is None and read.cookie_present:
            return SessionWrite(None)
    return write


def _write_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Apply the session decision for this response.

    Written as a header, not with ``response.set_cookie``: by the time the prepare hook
    runs, aiohttp has already turned the response's cookies into headers.
    """
    write = _session_write(request, response)
    if write is None:
        return
    security = security_of(request)
    if write.data is None:
        response.headers.add("Set-Cookie", _cookie_header(security, "", 0))
        return
    data = dict(write.data)
    if not isinstance(data.get("csrf"), str):
        data["csrf"] = request.get(CSRF_SHOWN) or new_csrf_token()
    value = security.signer.sign(data, security.now() + write.max_age)
    response.headers.add("Set-Cookie", _cookie_header(security, value, write.max_age))


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers and the session cookie, on every response before it is sent."""
    security = security_of(request)
    for name, value in security.headers.items():
        response.headers[name] = value
    _write_cookie(request, response)
