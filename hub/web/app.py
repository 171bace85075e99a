"""The web application: built from a :class:`~hub.services.context.Context` and the
hub's :class:`~hub.crypto.keys.KeyRing`, run beside intake by ``marrac-hub serve``.

Routes
    ``GET /.well-known/marrac-hub/keys.json``  the public keys (DESIGN.md, "Signed")
    ``GET /healthz``                           ``{"status": "ok"}`` when the database answers
    ``/assets/...``                            GOV.UK Frontend's fonts and images; its CSS
                                               refers to them by this absolute path
    ``/static/govuk/...``                      GOV.UK Frontend's CSS and JavaScript
    ``/static/hub/...``                        the hub's own static files

GOV.UK Frontend comes from npm (``scripts/setup-web.sh`` runs ``npm ci``). Without
``node_modules`` the hub still runs: pages render unstyled and a warning is logged once.

Every response carries the headers of :mod:`hub.web.security`; every 4xx/5xx is the
error page of :mod:`hub.web.pages`. The access log names routes, not paths, because an
agency's link token travels in the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.config import WebSettings
from hub.crypto.keys import KeyRing
from hub.crypto.signing import public_keys_document
from hub.services.context import Context
from hub.services.outages import alert_outage
from hub.web import agency, pages, ratelimit, security
from hub.web.descriptors import AcceptWatch
from hub.web.pages import Handler
from hub.web.state import CONTEXT, FRONTEND, RING

log = logging.getLogger("hub.web")

ROOT = Path(__file__).resolve().parents[2]
FRONTEND_DIST = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
HUB_STATIC = Path(__file__).parent / "static"
HEALTH_TIMEOUT_SECONDS = 5.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0
TALLY_SECONDS = 60.0


@functools.cache
def _warn_missing_frontend(dist: Path) -> None:
    log.warning(
        "event=web.frontend_missing path=%s effect=pages_unstyled fix=scripts/setup-web.sh",
        dist,
    )


def frontend_present(dist: Path) -> bool:
    """Whether GOV.UK Frontend's built files are there (warns once per path if not)."""
    ok = (dist / "govuk-frontend.min.css").is_file() and (dist / "assets").is_dir()
    if not ok:
        _warn_missing_frontend(dist)
    return ok


# --- static files ------------------------------------------------------------------------

# What browsers need from GOV.UK Frontend and from us, with the types to send them as
# (``nosniff`` makes browsers hold us to these). Anything else in the folders (Sass,
# Nunjucks, package metadata) is not served; nor are source maps (``.map``): browsers
# need none, and they hand a visitor the unminified source.
STATIC_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def static_files(root: Path) -> Handler:
    """Serve files under ``root`` (route variable ``path``), or the 404 error page.

    Instead of ``add_static``: aiohttp's static route answers a missing file with an
    empty 404 of its own, after the middleware, so it could not get the error page.
    """
    root = root.resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        try:
            path = (root / relative).resolve(strict=True)
            path.relative_to(root)  # no way out through "..", "%2f" or a symlink
        except (OSError, ValueError, RuntimeError):
            raise web.HTTPNotFound() from None
        content_type = STATIC_TYPES.get(path.suffix.lower())
        if content_type is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": content_type})

    return serve


def favicon(images: Path) -> Handler:
    path = images / "favicon.ico"

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers={"Content-Type": STATIC_TYPES[".ico"]})

    return serve


# --- handlers ----------------------------------------------------------------------------


async def keys_json(request: web.Request) -> web.Response:
    """The hub's public keys, so anyone can check a signed request (and seal an answer)."""
    return web.json_response(public_keys_document(request.app[RING]))


async def healthz(request: web.Request) -> web.Response:
    """Up, and the database answers ``SELECT 1``; 503 otherwise."""
    ctx = request.app[CONTEXT]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            async with ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("event=web.health_failed error=%s", type(exc).__name__)
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


# --- the application ---------------------------------------------------------------------


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Fail at start, not at the first visitor, if a core template is broken."""
    env = aiohttp_jinja2.get_env(app)
    for name in ("base.html", "error.html"):
        env.get_template(name)
    log.info("event=web.app_started frontend=%s", app[FRONTEND])
    tally = asyncio.create_task(_flush_tally(app[CONTEXT]), name="web-tally")
    try:
        yield
    finally:
        tally.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tally
        app[CONTEXT].attempts.flush()
    log.info("event=web.app_stopped")


async def _flush_tally(ctx: Context) -> None:
    """Log the minute's count of unusable-link attempts and 429s once it is over, even
    when no later attempt comes to roll it over (:mod:`hub.services.tally`)."""
    while True:
        await asyncio.sleep(TALLY_SECONDS)
        ctx.attempts.flush(ctx.clock.now())


def build_app(
    ctx: Context,
    ring: KeyRing,
    *,
    frontend_dist: Path = FRONTEND_DIST,
    trusted_proxies: Iterable[str] | None = None,
) -> web.Application:
    """The hub's web application.

    ``ctx`` and ``ring`` belong to the caller, who opens them before and closes them
    after. ``trusted_proxies`` lists the reverse proxies (addresses or networks) whose
    ``X-Forwarded-For`` :func:`hub.web.security.client_ip` may believe; by default
    ``[web] trusted_proxies``. Requests over ``[web] rate_limit_per_client`` or
    ``rate_limit_per_link`` get 429 (:mod:`hub.web.ratelimit`).
    """
    if trusted_proxies is None:
        trusted_proxies = ctx.settings.web.trusted_proxies
    app = web.Application(middlewares=[pages.error_pages, ratelimit.rate_limits])
    app[ratelimit.RATE_LIMITS] = ratelimit.RateLimits.from_settings(ctx.settings)
    app[CONTEXT] = ctx
    app[RING] = ring
    app[FRONTEND] = frontend_present(frontend_dist)
    env = pages.make_environment(app)
    env.globals["govuk_frontend"] = app[FRONTEND]
    app[security.SECURITY] = security.WebSecurity.build(
        ring,
        ctx.clock,
        ctx.settings.hub.public_url,
        script_hashes=pages.inline_script_hashes(env),
        trusted_proxies=trusted_proxies,
    )
    app.on_response_prepare.append(security.on_response_prepare)
    app.cleanup_ctx.append(_lifecycle)

    app.router.add_get("/.well-known/marrac-hub/keys.json", keys_json, name="keys")
    app.router.add_get("/healthz", healthz, name="healthz")
    if app[FRONTEND]:
        app.router.add_get("/assets/{path:.+}", static_files(frontend_dist / "assets"))
        app.router.add_get("/static/govuk/{path:.+}", static_files(frontend_dist))
        # Browsers ask for it by this name when a document (JSON, text) names no icon.
        app.router.add_get("/favicon.ico", favicon(frontend_dist / "assets" / "images"))
    app.router.add_get("/static/hub/{path:.+}", static_files(HUB_STATIC))
    agency.add_routes(app)
    return app


# --- running it --------------------------------------------------------------------------


class AccessLogger(AbstractAccessLogger):
    """One line a request: method, route template, status, time. Never the path or query
    (link tokens), never the client's address (personal data: the audit trail has it)."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "event=web.request method=%s route=%s status=%d ms=%.1f",
            request.method,
            pages.route_name(request),
            response.status,
            time * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


@dataclass
class RunningWeb:
    """A started web server; :meth:`stop` it (it closes connections, then the app)."""

    runner: web.AppRunner
    host: str
    port: int
    watch: AcceptWatch | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        try:
            await self.runner.cleanup()
        finally:
            if self.watch is not None:
                self.watch.remove()


def _web_settings(app: web.Application) -> WebSettings:
    """The hub's ``[web]`` settings; the defaults for an app that is not the hub's."""
    return app[CONTEXT].settings.web if CONTEXT in app else WebSettings()


def _accept_watch(app: web.Application) -> AcceptWatch:
    """Out of descriptors: logged once and alerted (when the app is the hub's)."""
    alert = None
    if CONTEXT in app:
        ctx = app[CONTEXT]
        alert = functools.partial(
            alert_outage,
            ctx,
            key="web-descriptors",
            what="the web server ran out of file descriptors",
            effect="new connections wait (or fail) until open ones close",
            action="check for a flood of connections; raise LimitNOFILE in the unit",
        )
    return AcceptWatch(asyncio.get_running_loop(), alert)


async def start_web(app: web.Application, host: str, port: int) -> RunningWeb:
    """Serve ``app`` on ``host:port`` (port 0: any free port; the bound one is reported).

    Connections that send no whole request head within ``[web] idle_timeout_seconds``
    are closed (the request bodies' timeout is the readers', :mod:`hub.web.agency.uploads`),
    and running out of descriptors is an outage, logged once and alerted
    (:mod:`hub.web.descriptors`)."""
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("hub.web.access"),
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        # aiohttp's keep-alive timer starts when a connection opens and again after each
        # response, and closes the connection if no request head has arrived by then.
        keepalive_timeout=_web_settings(app).idle_timeout_seconds,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as exc:
        # Say which address: "address already in use" alone sends an operator hunting.
        log.error("event=web.cannot_listen host=%s port=%d error=%s", host, port, exc.strerror)
        await runner.cleanup()
        raise
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound = int(address[1])
            break
    log.info("event=web.listening host=%s port=%d", host, bound)
    watch = _accept_watch(app)
    watch.install()
    return RunningWeb(runner, host, bound, watch)


async def run_web(ctx: Context, ring: KeyRing, stop_event: asyncio.Event | None = None) -> None:
    """Serve the hub on ``[web] host``/``port`` until ``stop_event`` is set or the task
    is cancelled; then finish requests in flight (up to a few seconds) and close."""
    settings = ctx.settings.web
    server = await start_web(build_app(ctx, ring), settings.host, settings.port)
    try:
        await (stop_event or asyncio.Event()).wait()  # without one: until cancelled
    finally:
        await server.stop()
        log.info("event=web.stopped")
