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

Durations are written ``<number><unit>`` with an optional sign (:mod:`.durations`):
``h`` elapsed hours, ``d`` calendar days, ``wd`` working days. Step offsets (relative to
the due time) are in hours only: "-24h", "-4h", "0h", "+24h".

The parts: :mod:`.durations` (durations), :mod:`.rules` (roles, steps, rules, the
error), :mod:`.defaults` (the default data), :mod:`.reading` (checking the data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time

from hub.domain.calendar import WorkingCalendar
from hub.domain.policy.defaults import default_policy_data
from hub.domain.policy.durations import Duration, Unit
from hub.domain.policy.reading import (
    known_time_zone,
    only,
    read_calendar,
    read_milestones,
    read_requests,
    table,
)
from hub.domain.policy.rules import (
    AGENCY,
    MILESTONES,
    ROLES,
    STAFF_ROLES,
    URGENCIES,
    MilestoneRule,
    PolicyError,
    RequestRule,
    StepRule,
)

__all__ = [
    "AGENCY",
    "DEFAULT_POLICY",
    "MILESTONES",
    "ROLES",
    "STAFF_ROLES",
    "URGENCIES",
    "Duration",
    "MilestoneRule",
    "Policy",
    "PolicyError",
    "RequestRule",
    "StepRule",
    "Unit",
    "default_policy_data",
    "known_time_zone",
]


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
        defaults = default_policy_data()
        top = table(data, "policy")
        only(top, ("calendar", "requests", "milestones"), "")
        calendar = read_calendar(top.get("calendar", {}), defaults["calendar"])
        return cls(
            nation=calendar.nation,
            timezone=calendar.timezone,
            agency_hours=calendar.agency_hours,
            extra_holidays=calendar.extra_holidays,
            requests=read_requests(top.get("requests", {}), defaults["requests"]),
            milestones=read_milestones(top.get("milestones", {}), defaults["milestones"]),
        )

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


#: The policy with nothing configured: what ``config/policy.example.toml`` says.
DEFAULT_POLICY: Policy = Policy.from_dict({})
