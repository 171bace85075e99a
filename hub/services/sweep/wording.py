"""How the sweep's mail words times and steps (references and states only: no personal
data, see hub.domain.notices)."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.services.context import Context

MILESTONE_WORDS = {
    "plan-48h": "the plan agreed with the MEs and resources aligned (48 hours)",
    "review-2w": "the progress check and risk re-review (2 weeks)",
    "closure-notice-24h": "every agency told of the closure (24 hours)",
}


def when(ctx: Context, at: datetime) -> str:
    """An instant in the hub's time zone, e.g. ``Thu 12 Mar 2026 09:30``."""
    return at.astimezone(ZoneInfo(ctx.settings.hub.timezone)).strftime("%a %d %b %Y %H:%M")


def _hours(n: int) -> str:
    return f"{n} hour{'' if n == 1 else 's'}"


def relative(due: datetime, now: datetime) -> str:
    """Where a deadline stands at ``now``, worded for now (a late sweep says how late it
    really is, not what its step said it would be): "due in 4 hours", "due now" (within
    the hour after), "25 hours overdue", "3 days overdue"."""
    seconds = (now - due).total_seconds()
    if seconds < 0:
        return f"due in {_hours(math.ceil(-seconds / 3600))}"
    late = int(seconds // 3600)
    if late == 0:
        return "due now"
    if late >= 72:
        return f"{late // 24} days overdue"
    return f"{_hours(late)} overdue"
