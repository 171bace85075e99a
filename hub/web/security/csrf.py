"""CSRF tokens: one per session, in a hidden field of every form.

Each session holds a random token (32 bytes); forms carry it in a hidden field
(``csrf_field()`` in templates) and POST handlers call :func:`require_csrf`. A page that
renders a form without a session creates one holding just the token. Browsers that send
``Sec-Fetch-Site`` (all current ones) also have cross-site form posts refused outright,
as a second line behind ``SameSite=Strict`` and the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from markupsafe import Markup

from hub.crypto.sessions import new_csrf_token, same_token
from hub.web.security.sessions import get_session

CSRF_FIELD = "csrf_token"
# A CSRF token this request minted or showed, so that the cookie written matches the page.
CSRF_SHOWN = web.RequestKey("csrf_shown", str)
CSRF_MINTED = web.RequestKey("csrf_minted", bool)


class CsrfRejected(web.HTTPForbidden):
    """A form arrived without the session's CSRF token (or from another site).

    The error middleware renders it as the "form has expired" page.
    """


def csrf_token(request: web.Request) -> str:
    """This session's CSRF token; a session holding a new one is made if there is none."""
    if CSRF_SHOWN in request:
        return request[CSRF_SHOWN]
    session = get_session(request)
    token: object = session.get("csrf") if session else None
    if not isinstance(token, str):
        token = new_csrf_token()
        request[CSRF_MINTED] = True
    request[CSRF_SHOWN] = token
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
    if not same_token(expected, given):
        raise CsrfRejected()
