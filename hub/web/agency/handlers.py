"""The agency's request handlers: HTTP in, one service call, a page out.

The services audit every look and attempt; the handlers pass them the client's address.
Reading forms is :mod:`hub.web.agency.uploads`, checking answers the domain's
(:mod:`hub.domain.answers`, through :mod:`hub.web.agency.forms`), and the pages are
:mod:`hub.web.agency.views`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from hub.domain.answers import BadForm
from hub.services import links
from hub.services.context import Context
from hub.web import pages, security
from hub.web.agency import views
from hub.web.agency.forms import too_large_error, validate
from hub.web.agency.uploads import (
    ReadForm,
    TooLarge,
    body_cap,
    read_multipart,
    read_small_form,
    read_urlencoded,
)
from hub.web.security import client_ip
from hub.web.state import CONTEXT

log = logging.getLogger("hub.web.agency")

# A session lasts long enough to write careful answers, and no longer.
SESSION_SECONDS = 2 * 60 * 60

_CODE_SEPARATORS = re.compile(r"[\s-]+")
_CODE = re.compile(r"[0-9]{6}")


def _ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


def _client(request: web.Request) -> str:
    return client_ip(request) or "-"


def _see_other(location: str) -> web.Response:
    """303: after a POST, the browser GETs ``location`` (post/redirect/get)."""
    return web.Response(status=303, headers={"Location": location})


async def _page_for_state(request: web.Request, token: str) -> web.Response:
    """After a refusal by a service: the page for what the link is now (a usable link
    refused a code has had all the codes it may)."""
    seen = await links.landing(_ctx(request), token, _client(request))
    if seen.state == "ok":
        return views.too_many_codes_page(request)
    return views.refusal_page(request, seen)


# --- the link: landing, code, verify -------------------------------------------------------


async def landing(request: web.Request) -> web.Response:
    """``GET /r/{token}``: what is on the email already, and a button for a code."""
    token = request.match_info["token"]
    seen = await links.landing(_ctx(request), token, _client(request))
    if seen.state == "ok":
        # The same page for every look at this link in this state: rendered once.
        return pages.render_cached(
            request, "agency/landing.html", {"link": seen}, per_request={"token": token}
        )
    return views.refusal_page(request, seen)


async def renew(request: web.Request) -> web.Response:
    """``POST /r/{token}``: a fresh link to the registered mailbox, if the link was ours
    and has expired. The same page whatever happened."""
    security.require_csrf(request, await read_small_form(request))
    await links.renew(_ctx(request), request.match_info["token"], _client(request))
    return views.renewal_page(request)


async def send_code(request: web.Request) -> web.StreamResponse:
    """``POST /r/{token}/code``: mail a code, then show the form to enter it."""
    security.require_csrf(request, await read_small_form(request))
    token = request.match_info["token"]
    if await links.send_code(_ctx(request), token, _client(request)):
        return _see_other(f"/r/{token}/code")
    return await _page_for_state(request, token)


async def code_form(request: web.Request) -> web.Response:
    """``GET /r/{token}/code``: the code entry form (the link is checked, not changed)."""
    token = request.match_info["token"]
    seen = await links.landing(_ctx(request), token, _client(request))
    if seen.state != "ok":
        return views.refusal_page(request, seen)
    return views.code_page(request, token, seen)


async def _code_again(request: web.Request, token: str, message: str) -> web.Response:
    """The code form again with ``message``, if the link can still be used."""
    seen = await links.landing(_ctx(request), token, _client(request))
    if seen.state != "ok":
        return views.refusal_page(request, seen)
    return views.code_page(request, token, seen, error=message)


def _tries(left: int) -> str:
    return f"You have {left} {'try' if left == 1 else 'tries'} left."


def _signed_in(grant: links.Grant) -> web.Response:
    """On to the request, in a fresh session: nothing of the anonymous one is carried
    across, so a new CSRF token is made with it."""
    response = _see_other("/request")
    security.set_session(
        response, {"request_id": grant.request_id, "link_id": grant.link_id}, SESSION_SECONDS
    )
    return response


async def verify(request: web.Request) -> web.StreamResponse:
    """``POST /r/{token}/verify``: the code proves the mailbox; a session replaces the link."""
    form = await read_small_form(request)
    security.require_csrf(request, form)
    token = request.match_info["token"]
    code = _CODE_SEPARATORS.sub("", form.get("code", ""))
    if not _CODE.fullmatch(code):
        # A typing slip tests nothing, so it costs no try.
        if not code:
            return await _code_again(request, token, "Enter the 6-digit code from the email")
        return await _code_again(request, token, "The code must be 6 digits, like 123456")
    result = await links.verify_code(_ctx(request), token, code, _client(request))
    if result.outcome == "ok" and result.grant is not None:
        return _signed_in(result.grant)
    if result.outcome == "locked":
        return views.locked_page(request)
    if result.outcome in ("wrong", "expired"):
        message = (
            "That code has expired. Send yourself a new code, then enter it here."
            if result.outcome == "expired"
            else "The code is not right. Check the email and enter the code again."
        )
        return await _code_again(request, token, f"{message} {_tries(result.tries_left)}")
    seen = await links.landing(_ctx(request), token, _client(request))
    return views.refusal_page(request, seen)


# --- the request: view and answer ----------------------------------------------------------


def _grant(request: web.Request) -> links.Grant | None:
    session = security.get_session(request)
    if not session:
        return None
    request_id, link_id = session.get("request_id"), session.get("link_id")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (request_id, link_id)):
        return None
    assert isinstance(request_id, int) and isinstance(link_id, int)
    return links.Grant(request_id, link_id)


async def _view(request: web.Request) -> tuple[links.Grant, dict[str, Any]] | web.Response:
    """This session's grant and request, or the page to show instead of them."""
    grant = _grant(request)
    if grant is None:
        return views.session_ended_page(request)
    try:
        shown = await links.view(_ctx(request), grant, _client(request))
    except PermissionError:
        return views.session_ended_page(request)
    if shown["state"] == "ok":
        return grant, shown
    if shown["state"] == "answered":
        return views.answered_page(request, shown.get("ref"))
    if shown["state"] == "locked":
        return views.locked_page(request)
    return views.closed_page(request)


async def request_page(request: web.Request) -> web.Response:
    """``GET /request``: the people in scope, the lawful basis and the questions."""
    viewed = await _view(request)
    if isinstance(viewed, web.Response):
        return viewed
    return views.request_page(request, viewed[1])


def _too_large(request: web.Request, shown: dict[str, Any]) -> web.Response:
    response = views.request_page(request, shown, too_large_error(_ctx(request)), status=413)
    response.force_close()  # the rest of the body is not wanted
    return response


async def _read_answer(request: web.Request) -> ReadForm | None:
    """The answer form as sent, or None when it is over the cap. Raises 400 for a body
    no page of ours sends."""
    cap = body_cap(_ctx(request))
    if request.content_type == "application/x-www-form-urlencoded":
        return await read_urlencoded(request)
    if request.content_type != "multipart/form-data":
        raise web.HTTPBadRequest()
    if request.content_length is not None and request.content_length > cap:
        return None  # refused before a byte is read
    try:
        return await read_multipart(request, cap, _ctx(request).settings.requests.max_upload_bytes)
    except TooLarge:
        return None
    except BadForm as exc:  # malformed bytes are a 400 already (uploads.reading)
        log.info("event=agency.bad_form reason=%s", type(exc).__name__)
        raise web.HTTPBadRequest() from None


async def answer(request: web.Request) -> web.Response:
    """``POST /request``: check the form, store the answer once, show the signed receipt."""
    viewed = await _view(request)
    if isinstance(viewed, web.Response):
        return viewed
    grant, shown = viewed
    form = await _read_answer(request)
    if form is None:
        return _too_large(request, shown)
    security.require_csrf(request, form.fields)
    try:
        submission, entered = validate(_ctx(request), shown, form)
    except BadForm as exc:
        log.info("event=agency.bad_form reason=%s", exc)
        raise web.HTTPBadRequest() from None
    if submission is None:
        return views.request_page(request, shown, entered)
    try:
        outcome, receipt = await links.submit(_ctx(request), grant, submission, _client(request))
    except PermissionError:
        return views.session_ended_page(request)
    if outcome == "stored" and receipt is not None:
        return views.receipt_page(request, receipt, shown, submission)
    if outcome == "already":
        return views.answered_page(request, shown.get("ref"))
    return views.closed_page(request)
