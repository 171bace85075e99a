"""Durations as the policy file writes them: ``<sign><number><unit>``.

- ``h``  elapsed hours, plain UTC arithmetic ("48h"; a clock change does not move it);
- ``d``  calendar days at the same London wall-clock time ("14d");
- ``wd`` working days at the same London wall-clock time ("5wd"; see
  :meth:`hub.domain.calendar.WorkingCalendar.add_working_days`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, cast

Unit = Literal["h", "d", "wd"]

# Bounds that catch typos ("4800h" for "48h") and keep working-day searches finite.
_LIMITS: Mapping[str, int] = {"h": 24 * 366, "d": 366, "wd": 261}
_DURATION = re.compile(r"([+-]?)(\d{1,6})(wd|h|d)")


@dataclass(frozen=True)
class Duration:
    """A signed amount of time in one unit: ``h`` elapsed hours, ``d`` calendar days,
    ``wd`` working days."""

    amount: int
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> Duration:
        """``"48h"``, ``"-4h"``, ``"+24h"``, ``"14d"``, ``"5wd"``; ValueError otherwise."""
        match = _DURATION.fullmatch(text.strip())
        if not match:
            raise ValueError(
                f"{text!r} is not a duration: write a number and a unit h, d or wd "
                '(e.g. "24h", "-4h", "14d", "5wd")'
            )
        sign, digits, unit = match.groups()
        amount = -int(digits) if sign == "-" else int(digits)
        if abs(amount) > _LIMITS[unit]:
            raise ValueError(f"{text!r} is longer than a year")
        return cls(amount, cast(Unit, unit))

    def as_timedelta(self) -> timedelta:
        """Only hours are a fixed length; days and working days need a calendar."""
        if self.unit != "h":
            raise ValueError(f"{self} is not a fixed length of time; use a calendar")
        return timedelta(hours=self.amount)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"
