"""Who a staff alert goes to: the case co-ordinator when there is one, else the team
leaders (issue 4: "warnings for a case with no co-ordinator go to the team leaders")."""

from __future__ import annotations

from hub.services.context import Context


def staff(ctx: Context, roles: tuple[str, ...], coordinator: str | None) -> list[str]:
    """Addresses for ``roles`` (``coordinator``, ``team-leader``), without repeats."""
    out: list[str] = []
    for role in roles:
        if role == "coordinator" and coordinator:
            out.append(coordinator)
        elif role in ("coordinator", "team-leader"):
            out += list(ctx.settings.alerts.team_leaders)
    return list(dict.fromkeys(out))
