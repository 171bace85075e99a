"""Rendering pages: the Jinja environment (our templates plus GOV.UK Frontend's), a
``render`` helper for handlers, and the error pages.

Error pages are deliberately plain and the same for everyone: a title, what to do next,
no stack trace, no detail of what was asked for (a link token in a 404 path is a secret).
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import escape

from hub.web import security
from hub.web.page_cache import PAGE_CACHE, PageCache

log = logging.getLogger("hub.web")

SERVICE_NAME = "MARRAC information requests"
TEMPLATES = Path(__file__).parent / "templates"
GOVUK_TEMPLATE = "govuk_frontend_jinja/template.html"


def make_environment(app: web.Application) -> jinja2.Environment:
    """Our templates first, then GOV.UK Frontend's under ``govuk_frontend_jinja/``.

    ``ChainableUndefined``: the GOV.UK templates are ports of Nunjucks ones, which read
    attributes of missing parameters freely (``params.meta.text``); Jinja's default
    ``Undefined`` fails on those. Autoescape is on for every template. Templates are
    compiled once and kept (``auto_reload=False``): checking every file a page is built
    from for changes cost dozens of ``stat`` calls a page.
    """
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(TEMPLATES),
            jinja2.PrefixLoader(
                {"govuk_frontend_jinja": jinja2.PackageLoader("govuk_frontend_jinja")}
            ),
        ]
    )
    env = aiohttp_jinja2.setup(
        app,
        loader=loader,
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        default_helpers=False,
        auto_reload=False,
        cache_size=-1,  # never evict: the hub has a few dozen templates
    )
    env.globals["serviceName"] = SERVICE_NAME
    app[PAGE_CACHE] = PageCache()
    return env


_INLINE_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL)


def inline_script_hashes(env: jinja2.Environment) -> list[str]:
    """CSP hashes of the inline scripts in GOV.UK's page template (the ``js-enabled`` one).

    Read from the installed template, so an upgrade of govuk-frontend-jinja that changes
    the script changes the hash with it. Fails loudly if there is none to find: a page
    whose script the policy blocks would quietly lose its JavaScript enhancements.
    """
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, GOVUK_TEMPLATE)
    scripts = [s for s in _INLINE_SCRIPT.findall(source) if s.strip()]
    if not scripts or any("{" in s for s in scripts):
        raise RuntimeError(f"cannot find a static inline script in {GOVUK_TEMPLATE}")
    return [security.script_hash(s) for s in scripts]


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """Render ``template`` with ``request`` and ``csrf_field()`` available to it."""
    values = {
        "request": request,
        "csrf_field": partial(security.csrf_field, request),
        **(context or {}),
    }
    return aiohttp_jinja2.render_template(template, request, values, status=status)


def render_cached(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    per_request: Mapping[str, str],
    status: int = 200,
) -> web.Response:
    """:func:`render`, from a page rendered once per ``context`` (hashable values: the
    page's key) and filled in per request (:mod:`hub.web.page_cache`) with the CSRF field
    and the ``per_request`` texts (escaped), which the template sees by these names."""
    cache = request.app[PAGE_CACHE]
    csrf = "csrf_field"

    def render_marked() -> str:
        values = {
            "request": request,
            csrf: lambda: cache.marker(csrf),
            **context,
            **{name: cache.marker(name) for name in per_request},
        }
        return aiohttp_jinja2.render_string(template, request, values)

    key = (template, tuple(sorted(context.items())), tuple(sorted(per_request)))
    slots = {name: str(escape(value)) for name, value in per_request.items()}
    slots[csrf] = str(security.csrf_field(request))
    body = cache.page(key, render_marked, slots)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


# --- errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorText:
    title: str
    paragraphs: tuple[str, ...]


_AGAIN = "If you followed a link from an email, open it again from the email."
ERRORS: dict[int, ErrorText] = {
    400: ErrorText(
        "Sorry, there is a problem with your request",
        ("Go back and try again.", _AGAIN),
    ),
    403: ErrorText(
        "You cannot see this page",
        (_AGAIN, "If that does not work, contact the MARRAC team who sent it."),
    ),
    404: ErrorText(
        "Page not found",
        (
            "If you typed the web address, check it is correct.",
            "If you pasted the web address, check you copied the entire address.",
            "If you followed a link from an email, it may have expired: contact the MARRAC "
            "team who sent it for a new one.",
        ),
    ),
    405: ErrorText(
        "Sorry, there is a problem with your request",
        ("Go back and try again.", _AGAIN),
    ),
    408: ErrorText(
        "Sorry, what you sent took too long to arrive",
        ("Check your internet connection, then go back and try again.",),
    ),
    413: ErrorText(
        "What you sent is too large",
        ("Go back and send less at once, or attach smaller files.",),
    ),
    429: ErrorText(
        "Too many attempts",
        ("Wait a few minutes, then try again.",),
    ),
    500: ErrorText(
        "Sorry, there is a problem with the service",
        ("Try again later.", "Nothing you sent has been lost unless this page says so."),
    ),
    503: ErrorText(
        "Sorry, the service is unavailable",
        ("Try again later.",),
    ),
}
CSRF_ERROR = ErrorText(
    "Sorry, this form has expired",
    (
        "For your security, forms can only be sent for a limited time after they are shown.",
        "Go back, reload the page and try again. Anything you typed may need to be entered again.",
    ),
)


def error_text(status: int) -> ErrorText:
    if status in ERRORS:
        return ERRORS[status]
    return ERRORS[500] if status >= 500 else ERRORS[400]


def render_error(request: web.Request, status: int, text: ErrorText | None = None) -> web.Response:
    """The error page for ``status``; plain text if even the template cannot render."""
    text = text or error_text(status)
    try:
        return render(
            request,
            "error.html",
            {"title": text.title, "paragraphs": text.paragraphs, "status": status},
            status=status,
        )
    except Exception as exc:  # noqa: BLE001 - the error page must not fail in its turn
        log.error("event=web.error_page_failed status=%d error=%s", status, type(exc).__name__)
        return web.Response(status=status, text=f"{text.title}\n", content_type="text/plain")


def route_name(request: web.BaseRequest) -> str:
    """The route's template (``/r/{token}``), never the path: paths may hold secrets."""
    if not isinstance(request, web.Request):
        return "-"
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "-"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# nginx's name for it: the client closed the connection before the answer was ready.
CLIENT_CLOSED = 499


async def _then_close(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response``, then close the connection at once: the rest of a body that
    came too slowly is not wanted (aiohttp would read on for its lingering time)."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()
    return response


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every 4xx/5xx as ``error.html``, with the right status; log bugs (and
    only bugs: a client that went away is an ordinary event, logged at info)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects go out as they are
        text = CSRF_ERROR if isinstance(exc, security.CsrfRejected) else None
        response = render_error(request, exc.status, text)
        if "Allow" in exc.headers:  # 405 must say what is allowed (RFC 9110 15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
        if exc.status == web.HTTPRequestTimeout.status_code:
            return await _then_close(request, response)
        return response
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:  # aiohttp's "Connection lost" while reading the body
        log.info("event=web.client_disconnected route=%s", route_name(request))
        response = web.Response(status=CLIENT_CLOSED, reason="Client Closed Request")
        response.force_close()  # nobody is there to read it; it is for the access log
        return response
    except Exception as exc:  # noqa: BLE001 - a bug: log where, show the generic page
        # Frames only (file, line, function): an exception's message may hold the data
        # it choked on, and personal data never goes to the log.
        where = " | ".join(
            f"{f.filename}:{f.lineno}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)
        )
        log.error(
            "event=web.unhandled route=%s error=%s where=%s",
            route_name(request),
            type(exc).__name__,
            where,
        )
        return render_error(request, 500)
