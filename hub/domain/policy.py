"""Deadline policy: how long agencies have to answer, when milestones fall due, and who
is warned or chased when.

The numbers are the MARRAC team's to set, not the code's: the appendix case study sets
the milestones (plan agreed within 48 hours of the referral, progress checked and risk
re-reviewed within 2 weeks, every agency told within 24 hours of closure) and the
information-request step (section 5.3, step 7) needs answers quickly without nagging an
office at night. The caller loads ``config/policy.example.toml`` (or its copy) with
:mod:`tomllib` and hands the plain dict to :meth:`Policy.from_dict`, which checks it once
and fails fast with a :class:`PolicyError` naming the bad key (STYLE.md habit 6).

Every key is optional: what a file leaves out is taken from :data:`DEFAULT_POLICY`,
key by key, and a list given in the file replaces the default list whole (steps are
never merged, so the file says exactly which steps exist).

Durations are written ``<number><unit>`` with an optional sign:

- ``h``  elapsed hours, plain UTC arithmetic ("48h"; a clock change does not move it);
- ``d``  calendar days at the same London wall-clock time ("14d");
- ``wd`` working days at the same London wall-clock time ("5wd"; see
  :meth:`hub.domain.calendar.WorkingCalendar.add_working_days`).

Step offsets (relative to the due time) are in hours only: "-24h", "-4h", "0h", "+24h".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.domain.calendar import NATIONS, WorkingCalendar

Unit = Literal["h", "d", "wd"]

#: How urgently an information request needs its answer.
URGENCIES: tuple[str, ...] = ("urgent", "standard")
#: The appendix's three milestones, each measured from its own anchor (see
#: :func:`hub.domain.deadlines.milestone_anchor`).
MILESTONES: tuple[str, ...] = ("plan-48h", "review-2w", "closure-notice-24h")
#: Who a step can go to. Staff roles are alerted at any hour; the agency only in its
#: working hours.
AGENCY = "agency"
STAFF_ROLES: tuple[str, ...] = ("coordinator", "team-leader")
ROLES: tuple[str, ...] = (*STAFF_ROLES, AGENCY)

# Bounds that catch typos ("4800h" for "48h") and keep working-day searches finite.
_LIMITS: Mapping[str, int] = {"h": 24 * 366, "d": 366, "wd": 261}
_DURATION = re.compile(r"([+-]?)(\d{1,6})(wd|h|d)")
_STEP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_CLOCK = re.compile(r"(\d{2}):(\d{2})")


class PolicyError(ValueError):
    """The policy file is wrong; ``key`` is the dotted path of the bad key
    (``milestones.plan-48h.steps[2].offset``) so the message points straight at it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"policy key {key}: {problem}")
        self.key = key
        self.problem = problem


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


@dataclass(frozen=True)
class StepRule:
    """One warning, chase or escalation: ``offset`` hours from the due time, to the
    ``to`` roles. ``name`` is unique within its list, so (subject, name) is the dedupe
    key of the alert ledger and each step is sent at most once."""

    name: str
    offset: Duration
    to: tuple[str, ...]

    @property
    def to_agency(self) -> bool:
        """Agency-bound steps are timed into the agency's working hours."""
        return AGENCY in self.to


@dataclass(frozen=True)
class RequestRule:
    """Default answer time and chase steps for information requests of one urgency."""

    urgency: str
    respond_within: Duration
    chase: tuple[StepRule, ...]


@dataclass(frozen=True)
class MilestoneRule:
    """When one milestone falls due after its anchor, and the warnings around it."""

    kind: str
    due: Duration
    steps: tuple[StepRule, ...]


@dataclass(frozen=True)
class Policy:
    """The whole deadline policy, checked. Build with :meth:`from_dict`."""

    nation: str
    timezone: str
    agency_hours: tuple[time, time]
    extra_holidays: tuple[date, ...]
    requests: tuple[RequestRule, ...]
    milestones: tuple[MilestoneRule, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Policy:
        """Check a policy loaded from TOML; missing keys take the defaults.

        Raises :class:`PolicyError` naming the first bad key.
        """
        return _parse(data)

    def request(self, urgency: str) -> RequestRule:
        """The rule for ``urgency``; KeyError for an urgency the policy does not know."""
        for rule in self.requests:
            if rule.urgency == urgency:
                return rule
        raise KeyError(f"no request urgency {urgency!r} (known: {', '.join(URGENCIES)})")

    def milestone(self, kind: str) -> MilestoneRule:
        """The rule for milestone ``kind``; KeyError for an unknown kind."""
        for rule in self.milestones:
            if rule.kind == kind:
                return rule
        raise KeyError(f"no milestone {kind!r} (known: {', '.join(MILESTONES)})")

    def working_calendar(self) -> WorkingCalendar:
        """The calendar these deadlines are counted in."""
        return WorkingCalendar(
            nation=self.nation,
            tz=self.timezone,
            extra_holidays=self.extra_holidays,
            hours=self.agency_hours,
        )


def default_policy_data() -> dict[str, object]:
    """The default policy as the plain dict ``config/policy.example.toml`` parses to
    (a fresh copy each call: callers may change it)."""
    return {
        "calendar": {
            "nation": "england-and-wales",
            "timezone": "Europe/London",
            "agency_opens": "08:00",
            "agency_closes": "18:00",
            "extra_holidays": [],
        },
        "requests": {
            "standard": {
                "respond_within": "5wd",
                "chase": [
                    {"name": "reminder", "offset": "-24h", "to": ["agency"]},
                    {"name": "chase", "offset": "0h", "to": ["agency"]},
                    {"name": "escalate-coordinator", "offset": "+24h", "to": ["coordinator"]},
                    {"name": "escalate-team-leader", "offset": "+72h", "to": ["team-leader"]},
                ],
            },
            "urgent": {
                "respond_within": "24h",
                "chase": [
                    {"name": "reminder", "offset": "-4h", "to": ["agency"]},
                    {"name": "chase", "offset": "0h", "to": ["agency"]},
                    {"name": "escalate-coordinator", "offset": "+4h", "to": ["coordinator"]},
                    {"name": "escalate-team-leader", "offset": "+24h", "to": ["team-leader"]},
                ],
            },
        },
        "milestones": {
            "plan-48h": {
                "due": "48h",
                "steps": [
                    {"name": "warn-24h", "offset": "-24h", "to": ["coordinator"]},
                    {"name": "warn-4h", "offset": "-4h", "to": ["coordinator"]},
                    {"name": "due", "offset": "0h", "to": ["coordinator", "team-leader"]},
                    {"name": "overdue-24h", "offset": "+24h", "to": ["team-leader"]},
                ],
            },
            "review-2w": {
                "due": "14d",
                "steps": [
                    {"name": "warn-24h", "offset": "-24h", "to": ["coordinator"]},
                    {"name": "warn-4h", "offset": "-4h", "to": ["coordinator"]},
                    {"name": "due", "offset": "0h", "to": ["coordinator", "team-leader"]},
                    {"name": "overdue-24h", "offset": "+24h", "to": ["team-leader"]},
                ],
            },
            "closure-notice-24h": {
                "due": "24h",
                "steps": [
                    {"name": "warn-4h", "offset": "-4h", "to": ["coordinator"]},
                    {"name": "due", "offset": "0h", "to": ["coordinator", "team-leader"]},
                    {"name": "overdue-24h", "offset": "+24h", "to": ["team-leader"]},
                ],
            },
        },
    }


# -- parsing ---------------------------------------------------------------------------


def _table(value: object, key: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise PolicyError(key, "must be a table")
    for k in value:
        if not isinstance(k, str):
            raise PolicyError(key, f"has a non-text key {k!r}")
    return cast(Mapping[str, object], value)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _only(table: Mapping[str, object], allowed: Sequence[str], prefix: str) -> None:
    for k in table:
        if k not in allowed:
            raise PolicyError(
                _join(prefix, k), f"unknown key (expected one of: {', '.join(allowed)})"
            )


def _merged(given: object, default: object, key: str, allowed: Sequence[str]) -> dict[str, object]:
    """``given`` over ``default``, key by key, after refusing unknown keys."""
    table = _table(given, key)
    _only(table, allowed, key)
    return {**_table(default, key), **table}


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


def _steps(value: object, key: str, *, agency_allowed: bool) -> tuple[StepRule, ...]:
    rules: list[StepRule] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(value, key)):
        here = f"{key}[{i}]"
        step = _table(item, here)
        _only(step, ("name", "offset", "to"), here)
        for required in ("name", "offset", "to"):
            if required not in step:
                raise PolicyError(_join(here, required), "missing")
        name = _text(step["name"], f"{here}.name")
        if not _STEP_NAME.fullmatch(name):
            raise PolicyError(
                f"{here}.name", f"{name!r}: use lower-case letters, digits and hyphens"
            )
        if name in seen:
            raise PolicyError(
                f"{here}.name", f"duplicate step name {name!r}: names are dedupe keys"
            )
        seen.add(name)
        offset = _duration(step["offset"], f"{here}.offset", hours_only=True)
        to = tuple(_text(r, f"{here}.to") for r in _list(step["to"], f"{here}.to"))
        if not to:
            raise PolicyError(f"{here}.to", "names nobody")
        for role in to:
            if role not in ROLES:
                raise PolicyError(
                    f"{here}.to", f"unknown role {role!r} (known: {', '.join(ROLES)})"
                )
        if len(set(to)) != len(to):
            raise PolicyError(f"{here}.to", "names a role twice")
        if AGENCY in to and not agency_allowed:
            raise PolicyError(
                f"{here}.to",
                "milestone warnings go to staff; the agencies hear from the co-ordinator",
            )
        if AGENCY in to and len(to) > 1:
            raise PolicyError(
                f"{here}.to",
                "a step goes to the agency (in its working hours) or to staff (at any "
                "hour), not both: split it into two steps",
            )
        rules.append(StepRule(name, offset, to))
    return tuple(rules)


def _parse(data: Mapping[str, object]) -> Policy:
    defaults = default_policy_data()
    top = _table(data, "policy")
    _only(top, ("calendar", "requests", "milestones"), "")

    cal = _merged(
        top.get("calendar", {}),
        defaults["calendar"],
        "calendar",
        ("nation", "timezone", "agency_opens", "agency_closes", "extra_holidays"),
    )
    nation = _text(cal["nation"], "calendar.nation")
    if nation not in NATIONS:
        raise PolicyError(
            "calendar.nation", f"unknown nation {nation!r} (known: {', '.join(NATIONS)})"
        )
    timezone = _text(cal["timezone"], "calendar.timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError("calendar.timezone", f"unknown time zone {timezone!r}") from None
    opens = _clock(cal["agency_opens"], "calendar.agency_opens")
    closes = _clock(cal["agency_closes"], "calendar.agency_closes")
    if not opens < closes:
        raise PolicyError("calendar.agency_closes", "agencies must open before they close")
    extra = tuple(
        sorted(
            {
                _day(d, f"calendar.extra_holidays[{i}]")
                for i, d in enumerate(_list(cal["extra_holidays"], "calendar.extra_holidays"))
            }
        )
    )

    req_defaults = _table(defaults["requests"], "requests")
    req_given = _merged(top.get("requests", {}), req_defaults, "requests", URGENCIES)
    requests = []
    for urgency in URGENCIES:
        key = f"requests.{urgency}"
        rule = _merged(req_given[urgency], req_defaults[urgency], key, ("respond_within", "chase"))
        requests.append(
            RequestRule(
                urgency,
                _positive(rule["respond_within"], f"{key}.respond_within"),
                _steps(rule["chase"], f"{key}.chase", agency_allowed=True),
            )
        )

    ms_defaults = _table(defaults["milestones"], "milestones")
    ms_given = _merged(top.get("milestones", {}), ms_defaults, "milestones", MILESTONES)
    milestones = []
    for kind in MILESTONES:
        key = f"milestones.{kind}"
        rule = _merged(ms_given[kind], ms_defaults[kind], key, ("due", "steps"))
        milestones.append(
            MilestoneRule(
                kind,
                _positive(rule["due"], f"{key}.due"),
                _steps(rule["steps"], f"{key}.steps", agency_allowed=False),
            )
        )

    return Policy(
        nation=nation,
        timezone=timezone,
        agency_hours=(opens, closes),
        extra_holidays=extra,
        requests=tuple(requests),
        milestones=tuple(milestones),
    )


#: The policy with nothing configured: what ``config/policy.example.toml`` says.
DEFAULT_POLICY: Policy = Policy.from_dict({})
