"""When to try again (STYLE.md habit 5: temporary or permanent).

One backoff for everything that retries: the outbox's schedule for a refused message and
the runtime's loops waiting for a mailbox, SMTP server or database to come back.
Exponential and capped, with "equal jitter" (M. Brooker, "Exponential Backoff And
Jitter", AWS Architecture Blog, 2015): half the delay is fixed, half is drawn, so many
hubs or rows that failed together do not all retry in the same instant, and no retry
comes sooner than half its step. The draw is an argument, so this stays pure and a test
can fix it; ``draw=1.0`` (the default) means no jitter: the full step.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def backoff_delay(attempt: int, first: float, cap: float, draw: float = 1.0) -> float:
    """Seconds to wait before try ``attempt + 1``: the step is first, 2*first, 4*first
    ... up to ``cap``; the delay lies between half the step and the step, placed by
    ``draw`` (0 to 1, e.g. ``random.random()``)."""
    if not 0.0 <= draw <= 1.0:
        raise ValueError(f"a backoff draw lies between 0 and 1, not {draw}")
    # Exponent capped too: 2**attempts would overflow a float long after the cap binds.
    step = min(cap, first * 2.0 ** min(max(0, attempt - 1), 64))
    return step / 2 + step / 2 * draw


def next_attempt(
    attempts: int, now: datetime, first: float, cap: float, draw: float = 1.0
) -> datetime:
    """When a delivery that failed ``attempts`` times should be tried again."""
    return now + timedelta(seconds=backoff_delay(attempts, first, cap, draw))


class Backoff:
    """A loop's backoff while a service is down: 1, 2, 4 ... seconds (jittered) up to
    ``cap``; :meth:`reset` after a success. ``rng`` is injectable so a test can fix it."""

    def __init__(self, cap: float, rng: random.Random | None = None, first: float = 1.0) -> None:
        self.cap = cap
        self.first = first
        self.attempt = 0
        self._rng = rng or random.Random()  # spreading retries, not a secret

    def next(self) -> float:
        """The delay before the next try."""
        self.attempt += 1
        return backoff_delay(self.attempt, self.first, self.cap, self._rng.random())

    def reset(self) -> None:
        self.attempt = 0


def is_temporary(code: int | None) -> bool:
    """SMTP 4xx (and no code at all: a timeout or a cut connection) is worth retrying;
    5xx is a permanent refusal (RFC 5321 4.2.1)."""
    return code is None or 400 <= code < 500
