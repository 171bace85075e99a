"""Counts of cheap, anonymous events per minute, logged as one line a minute.

Some events are too many and too empty to audit one by one: a guessed link token reads
no personal data, and an audit row for each (a write under the chain's lock, a row kept
for years) would let anyone with a loop fill the trail and queue every writer behind
SQLite's write lock. They are counted here instead, per process and per minute, and
each minute's counts are logged on one line::

    event=web.minute minute=2026-03-12T09:00Z link.view.unusable=1496 web.limited.client=3

A minute's line is written when the first event of a later minute arrives, or when
:meth:`MinuteTally.flush` is called (the web app does so every minute and when it stops).
No client address, token or reference is kept: only the names of events and counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

log = logging.getLogger("hub.tally")


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class MinuteTally:
    """Events counted by name for the current minute (one per process; not shared)."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._minute: datetime | None = None
        self._counts: Counter[str] = Counter()

    def add(self, event: str, now: datetime) -> None:
        """Count one ``event`` at ``now``; a new minute first logs the last one."""
        minute = _minute(now)
        if minute != self._minute:
            self.flush()
            self._minute = minute
        self._counts[event] += 1

    def counts(self) -> dict[str, int]:
        """The current minute's counts so far (for tests and ``/healthz``-like checks)."""
        return dict(self._counts)

    def flush(self, now: datetime | None = None) -> dict[str, int]:
        """Log the counted minute and start afresh; returns what was logged. With ``now``,
        only once that minute is over (a periodic call does not split a minute)."""
        if self._minute is None or not self._counts:
            return {}
        if now is not None and _minute(now) == self._minute:
            return {}
        counted = dict(sorted(self._counts.items()))
        self._log.info(
            "event=web.minute minute=%s %s",
            self._minute.strftime("%Y-%m-%dT%H:%MZ"),
            " ".join(f"{name}={n}" for name, n in counted.items()),
        )
        self._counts.clear()
        return counted
