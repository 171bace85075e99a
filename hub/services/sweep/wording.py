"""How the sweep's mail words times and steps (references and states only: no personal
data, see hub.domain.notices)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hub.domain.deadlines import Step
from hub.services.context import Context

MILESTONE_WORDS = {
    "plan-48h": "the plan agreed with the MEs and resources aligned (48 hours)",
    "review-2w": "the progress check and risk re-review (2 weeks)",
    "closure-notice-24h": "every agency told of the closure (24 hours)",
}


def when(ctx: Context, at: datetime) -> str:
    """An instant in the hub's time zone, e.g. ``Thu 12 Mar 2026 09:30``."""
    return at.astimezone(ZoneInfo(ctx.settings.hub.timezone)).strftime("%a %d %b %Y %H:%M")


def relative(step: Step) -> str:
    """Where a step stands against its deadline: due in, due now, or overdue."""
    hours = step.offset_hours
    if hours < 0:
        return f"due in {-hours} hours"
    if hours == 0:
        return "due now"
    return f"{hours} hours overdue"
