"""The one place that reads the wall clock.

Deadline logic everywhere else takes ``now`` from a :class:`Clock`, so tests travel in
time instead of sleeping (STYLE.md habit 4; a test greps the tree for other readers).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is, in UTC."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards: for timeouts and measuring."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FrozenClock:
    """A clock that only moves when told to: for tests and `--now` replays."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta) -> None:
        """Move time forward (never back: deadlines assume it only grows)."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += delta
        self._mono += delta.total_seconds()

    def set(self, instant: datetime) -> None:
        """Jump to an instant (forward or back), for clock-jump tests."""
        self._now = instant.astimezone(UTC)
