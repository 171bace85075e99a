"""Out of file descriptors: an outage of the web server, never its end.

Every open connection holds a descriptor. When they run out, ``accept()`` fails with
``EMFILE`` (or ``ENFILE``, ``ENOBUFS``, ``ENOMEM``). asyncio's server already backs off
then: it stops accepting, tries again a second later, and so on until it can. But it
reports every failure to the loop's exception handler, whose default logs an ERROR with
a traceback each second, and it tells nobody who could act.

:class:`AcceptWatch` takes those reports (and passes every other one on): one error line
and one alert to the team leaders per outage, and a line when the server has gone
:data:`QUIET_SECONDS` without a failed ``accept()`` (asyncio retries each second while
connections wait, so that long without a failure means accepting works again).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("hub.web")

RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
QUIET_SECONDS = 3.0
# Tries to queue the alert, QUIET_SECONDS apart (about ten minutes in all).
ALERT_TRIES = 200

Alert = Callable[[], Awaitable[None]]
Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def is_accept_failure(context: dict[str, Any]) -> bool:
    """Whether asyncio reports a server's ``accept()`` failing for want of resources."""
    exc = context.get("exception")
    return (
        isinstance(exc, OSError)
        and exc.errno in RESOURCE_ERRORS
        and str(context.get("message", "")).startswith("socket.accept()")
    )


class AcceptWatch:
    """Installed on the loop while a web server runs (:meth:`install`, :meth:`remove`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, alert: Alert | None = None) -> None:
        self._loop = loop
        self._alert = alert
        self._previous: Handler | None = None
        self._task: asyncio.Task[None] | None = None
        self._alerting: asyncio.Task[None] | None = None
        self._last_failure = 0.0
        self.failures = 0  # failed accepts in the current outage
        self.outages = 0

    @property
    def out(self) -> bool:
        """Whether the server is in an outage now."""
        return self._task is not None and not self._task.done()

    def install(self) -> None:
        self._previous = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._handle)

    def remove(self) -> None:
        if self._loop.get_exception_handler() == self._handle:
            self._loop.set_exception_handler(self._previous)
        for task in (self._task, self._alerting):
            if task is not None:
                task.cancel()

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not is_accept_failure(context):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self._last_failure = loop.time()
        self.failures += 1
        if not self.out:
            self._begin(context["exception"])

    def _begin(self, exc: OSError) -> None:
        self.outages += 1
        self.failures = 1
        log.error(
            "event=web.out_of_descriptors error=%s effect=new_connections_wait retry=each_second",
            errno.errorcode.get(exc.errno or 0, "OSError"),
        )
        self._task = self._loop.create_task(self._until_quiet(), name="web-descriptors")
        if self._alert is not None and (self._alerting is None or self._alerting.done()):
            self._alerting = self._loop.create_task(self._send_alert(), name="web-alert")

    async def _until_quiet(self) -> None:
        started = self._loop.time()
        while True:  # each failed accept moves the end of the outage on
            remaining = self._last_failure + QUIET_SECONDS - self._loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)
        log.warning(
            "event=web.accepting_again outage_seconds=%.1f failed_accepts=%d",
            self._last_failure - started,
            self.failures,
        )

    async def _send_alert(self) -> None:
        """The alert, retried: queuing it may want a descriptor too (the database's)."""
        assert self._alert is not None
        for _ in range(ALERT_TRIES):
            try:
                await self._alert()
                return
            except Exception as exc:  # noqa: BLE001 - retried; the outage itself is logged
                log.warning("event=web.outage_alert_failed error=%s", type(exc).__name__)
            await asyncio.sleep(QUIET_SECONDS)
