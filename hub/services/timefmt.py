"""How instants appear in JSON output: ISO 8601 in UTC with a ``Z``."""

from __future__ import annotations

from datetime import datetime


def iso_z(value: datetime | None) -> str | None:
    """``2026-03-12T01:40:00Z`` (microseconds kept when present); None stays None."""
    return value.isoformat().replace("+00:00", "Z") if value else None
