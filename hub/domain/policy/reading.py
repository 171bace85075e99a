"""Reading a policy from the plain data TOML gives: each part checked once, and the first
mistake raised as a :class:`PolicyError` naming its dotted key (STYLE.md habit 6).

Every key is optional: what the data leaves out is taken from
:func:`~hub.domain.policy.defaults.default_policy_data`, key by key, and a list given
replaces the default list whole (steps are never merged, so the file says exactly which
steps exist).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.calendar import NATIONS
from hub.domain.policy.durations import Duration
from hub.domain.policy.rules import (
    AGENCY,
    MILESTONES,
    ROLES,
    URGENCIES,
    MilestoneRule,
    PolicyError,
    RequestRule,
    StepRule,
)

_STEP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_CLOCK = re.compile(r"(\d{2}):(\d{2})")
_CALENDAR_KEYS = ("nation", "timezone", "agency_opens", "agency_closes", "extra_holidays")
_STEP_KEYS = ("name", "offset", "to")


def known_time_zone(name: str) -> bool:
    """Whether ``name`` is a time zone of the IANA database (``Europe/London``)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class CalendarRule:
    """The ``[calendar]`` table, checked: whose holidays, which zone, agency hours."""

    nation: str
    timezone: str
    agency_hours: tuple[time, time]
    extra_holidays: tuple[date, ...]


def table(value: object, key: str) -> Mapping[str, object]:
    """``value`` as a table with text keys, or a :class:`PolicyError` naming ``key``."""
    if not isinstance(value, Mapping):
        raise PolicyError(key, "must be a table")
    for k in value:
        if not isinstance(k, str):
            raise PolicyError(key, f"has a non-text key {k!r}")
    return cast(Mapping[str, object], value)


def only(table: Mapping[str, object], allowed: Sequence[str], prefix: str) -> None:
    """Refuse the first key of ``table`` not in ``allowed``."""
    for k in table:
        if k not in allowed:
            raise PolicyError(
                _join(prefix, k), f"unknown key (expected one of: {', '.join(allowed)})"
            )


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _merged(given: object, default: object, key: str, allowed: Sequence[str]) -> dict[str, object]:
    """``given`` over ``default``, key by key, after refusing unknown keys."""
    given_table = table(given, key)
    only(given_table, allowed, key)
    return {**table(default, key), **given_table}


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(key, f"must be text, not {type(value).__name__}")
    return value


def _duration(value: object, key: str, *, hours_only: bool = False) -> Duration:
    try:
        parsed = Duration.parse(_text(value, key))
    except ValueError as exc:
        raise PolicyError(key, str(exc)) from None
    if hours_only and parsed.unit != "h":
        raise PolicyError(key, f'{value!r}: step offsets are in hours ("-24h", "0h", "+72h")')
    return parsed


def _positive(value: object, key: str) -> Duration:
    parsed = _duration(value, key)
    if parsed.amount <= 0:
        raise PolicyError(key, f"{value!r}: a response time or deadline must be positive")
    return parsed


def _clock(value: object, key: str) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise PolicyError(key, "a wall-clock time, without a zone")
        return value
    match = _CLOCK.fullmatch(_text(value, key).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise PolicyError(key, f'{value!r} is not a time of day like "08:00"')
    return time(int(match[1]), int(match[2]))


def _day(value: object, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(_text(value, key))
    except ValueError:
        raise PolicyError(key, f'{value!r} is not a date like "2026-12-24"') from None


def _list(value: object, key: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise PolicyError(key, "must be a list")
    return list(value)


# -- steps ------------------------------------------------------------------------------


def _step_name(value: object, key: str, seen: set[str]) -> str:
    name = _text(value, key)
    if not _STEP_NAME.fullmatch(name):
        raise PolicyError(key, f"{name!r}: use lower-case letters, digits and hyphens")
    if name in seen:
        raise PolicyError(key, f"duplicate step name {name!r}: names are dedupe keys")
    seen.add(name)
    return name


def _recipients(value: object, key: str, *, agency_allowed: bool) -> tuple[str, ...]:
    to = tuple(_text(r, key) for r in _list(value, key))
    if not to:
        raise PolicyError(key, "names nobody")
    for role in to:
        if role not in ROLES:
            raise PolicyError(key, f"unknown role {role!r} (known: {', '.join(ROLES)})")
    if len(set(to)) != len(to):
        raise PolicyError(key, "names a role twice")
    if AGENCY in to and not agency_allowed:
        raise PolicyError(
            key, "milestone warnings go to staff; the agencies hear from the co-ordinator"
        )
    if AGENCY in to and len(to) > 1:
        raise PolicyError(
            key,
            "a step goes to the agency (in its working hours) or to staff (at any "
            "hour), not both: split it into two steps",
        )
    return to


def _step(item: object, here: str, seen: set[str], *, agency_allowed: bool) -> StepRule:
    step = table(item, here)
    only(step, _STEP_KEYS, here)
    for required in _STEP_KEYS:
        if required not in step:
            raise PolicyError(_join(here, required), "missing")
    name = _step_name(step["name"], f"{here}.name", seen)
    offset = _duration(step["offset"], f"{here}.offset", hours_only=True)
    to = _recipients(step["to"], f"{here}.to", agency_allowed=agency_allowed)
    return StepRule(name, offset, to)


def _steps(value: object, key: str, *, agency_allowed: bool) -> tuple[StepRule, ...]:
    seen: set[str] = set()
    return tuple(
        _step(item, f"{key}[{i}]", seen, agency_allowed=agency_allowed)
        for i, item in enumerate(_list(value, key))
    )


# -- the three tables -------------------------------------------------------------------


def read_calendar(given: object, default: object) -> CalendarRule:
    """The ``[calendar]`` table over its defaults."""
    cal = _merged(given, default, "calendar", _CALENDAR_KEYS)
    nation = _text(cal["nation"], "calendar.nation")
    if nation not in NATIONS:
        raise PolicyError(
            "calendar.nation", f"unknown nation {nation!r} (known: {', '.join(NATIONS)})"
        )
    timezone = _text(cal["timezone"], "calendar.timezone")
    if not known_time_zone(timezone):
        raise PolicyError("calendar.timezone", f"unknown time zone {timezone!r}")
    opens = _clock(cal["agency_opens"], "calendar.agency_opens")
    closes = _clock(cal["agency_closes"], "calendar.agency_closes")
    if not opens < closes:
        raise PolicyError("calendar.agency_closes", "agencies must open before they close")
    holidays = _list(cal["extra_holidays"], "calendar.extra_holidays")
    extra = {_day(d, f"calendar.extra_holidays[{i}]") for i, d in enumerate(holidays)}
    return CalendarRule(nation, timezone, (opens, closes), tuple(sorted(extra)))


def read_requests(given: object, default: object) -> tuple[RequestRule, ...]:
    """The ``[requests.<urgency>]`` tables over their defaults, in :data:`URGENCIES` order."""
    defaults = table(default, "requests")
    merged = _merged(given, defaults, "requests", URGENCIES)
    rules = []
    for urgency in URGENCIES:
        key = f"requests.{urgency}"
        rule = _merged(merged[urgency], defaults[urgency], key, ("respond_within", "chase"))
        rules.append(
            RequestRule(
                urgency,
                _positive(rule["respond_within"], f"{key}.respond_within"),
                _steps(rule["chase"], f"{key}.chase", agency_allowed=True),
            )
        )
    return tuple(rules)


def read_milestones(given: object, default: object) -> tuple[MilestoneRule, ...]:
    """The ``[milestones.<kind>]`` tables over their defaults, in :data:`MILESTONES` order."""
    defaults = table(default, "milestones")
    merged = _merged(given, defaults, "milestones", MILESTONES)
    rules = []
    for kind in MILESTONES:
        key = f"milestones.{kind}"
        rule = _merged(merged[kind], defaults[kind], key, ("due", "steps"))
        rules.append(
            MilestoneRule(
                kind,
                _positive(rule["due"], f"{key}.due"),
                _steps(rule["steps"], f"{key}.steps", agency_allowed=False),
            )
        )
    return tuple(rules)
