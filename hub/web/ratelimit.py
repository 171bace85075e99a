"""Rate limits: requests a minute per client address and per link token.

``[web] rate_limit_per_client`` and ``rate_limit_per_link`` (0 turns one off). A client
over either gets ``429 Too many attempts`` (the GOV.UK error page) with ``Retry-After``;
the refusal is counted per minute (:mod:`hub.services.tally`), never logged one by one.
Static files and ``/healthz`` are not limited: a page's styles and fonts are not
attempts, and a monitor must always get through.

Each limit is a GCRA ("generic cell rate") bucket per key: a burst of up to the whole
minute's allowance at once, then one request every ``60 / limit`` seconds. The counts
live in this process's memory only, a bounded number of keys: with several processes
each one counts on its own, and nginx's ``limit_req`` (``deploy/``) is the shared limit.
The time is the hub's clock (``monotonic``), so tests move it instead of waiting.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

from aiohttp import web

from hub.config import Settings
from hub.web import pages
from hub.web.pages import Handler
from hub.web.security import client_ip
from hub.web.state import CONTEXT

WINDOW_SECONDS = 60.0
# Keys remembered per limit; beyond that, buckets that are full again are forgotten
# first, then the oldest (an attacker cycling tokens cannot grow the process's memory).
MAX_KEYS = 50_000
# What is never limited.
EXEMPT_PREFIXES = ("/static/", "/assets/")
EXEMPT_PATHS = frozenset({"/healthz", "/favicon.ico"})


@dataclass
class Bucket:
    """One limit (``per_minute`` requests a minute; 0: none) over many keys."""

    per_minute: int
    max_keys: int = MAX_KEYS
    # key -> the "theoretical arrival time" of its next request (GCRA).
    _due: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def take(self, key: str, now: float) -> float:
        """Count a request for ``key`` at ``now`` (seconds); 0 when it may go ahead, else
        the seconds to wait before one will."""
        if self.per_minute <= 0:
            return 0.0
        interval = WINDOW_SECONDS / self.per_minute
        tolerance = WINDOW_SECONDS - interval
        due = max(self._due.pop(key, now), now)
        if due - now > tolerance:
            self._due[key] = due
            return due - tolerance - now
        self._due[key] = due + interval
        if len(self._due) > self.max_keys:
            self._forget(now)
        return 0.0

    def _forget(self, now: float) -> None:
        for key in [k for k, due in self._due.items() if due <= now]:
            del self._due[key]  # full again: the same as never seen
        while len(self._due) > self.max_keys:
            self._due.popitem(last=False)


@dataclass
class RateLimits:
    """The per-client and per-link limits of one web app."""

    per_client: Bucket
    per_link: Bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        web_settings = settings.web
        return cls(
            Bucket(web_settings.rate_limit_per_client), Bucket(web_settings.rate_limit_per_link)
        )


RATE_LIMITS = web.AppKey("rate_limits", RateLimits)


def _exempt(request: web.Request) -> bool:
    return request.path in EXEMPT_PATHS or request.path.startswith(EXEMPT_PREFIXES)


def _too_many(request: web.Request, wait: float) -> web.Response:
    response = pages.render_error(request, 429)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


@web.middleware
async def rate_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """429 with ``Retry-After`` for a client or a link over its limit."""
    if _exempt(request):
        return await handler(request)
    limits = request.config_dict[RATE_LIMITS]
    ctx = request.config_dict[CONTEXT]
    now = ctx.clock.monotonic()
    wait = limits.per_client.take(client_ip(request) or "-", now)
    limited = "web.limited.client" if wait else ""
    token = request.match_info.get("token")
    if not wait and token is not None:
        wait = limits.per_link.take(token, now)
        limited = "web.limited.link" if wait else ""
    if wait:
        ctx.attempts.add(limited, ctx.clock.now())
        return _too_many(request, wait)
    return await handler(request)
