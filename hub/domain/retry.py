"""When to try a failed delivery again (STYLE.md habit 5: temporary or permanent)."""

from __future__ import annotations

from datetime import datetime, timedelta


def next_attempt(attempts: int, now: datetime, first: float, cap: float) -> datetime:
    """Exponential backoff: first, 2*first, 4*first ... capped."""
    delay = min(cap, first * (2 ** max(0, attempts - 1)))
    return now + timedelta(seconds=delay)


def is_temporary(code: int | None) -> bool:
    """SMTP 4xx (and no code at all: a timeout or a cut connection) is worth retrying;
    5xx is a permanent refusal (RFC 5321 4.2.1)."""
    return code is None or 400 <= code < 500
