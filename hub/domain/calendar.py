"""Working days, bank holidays and agency hours: the calendar deadlines are counted in.

The hub keeps three kinds of time apart, because the evaluation's promises and the
agencies' working lives are measured differently (report appendix, section 5.3):

- **elapsed hours** ("within 48 hours of the referral"): plain UTC arithmetic, so a
  clock change never stretches or shrinks a deadline by an hour;
- **calendar days** ("within 2 weeks"): the same London wall-clock time so many dates
  later, whatever the clocks did in between;
- **working days** ("5 working days to answer"): the same London wall-clock time so many
  working days later, skipping weekends and the nation's bank holidays.

Agencies without shared IT are offices: a reminder to a school at 03:00 on a Saturday is
read at 08:00 on Monday at best, and looks careless. :meth:`WorkingCalendar.next_agency_window`
moves agency-bound mail into opening hours; staff alerts go at any hour.

Every instant in and out is timezone-aware and returned in UTC (storage is UTC, DESIGN.md
"Time"); wall-clock work happens in the calendar's zone through :mod:`zoneinfo`. Bank
holidays come from the ``holidays`` package (bundled data, no network).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from holidays.version import __version__ as _HOLIDAYS_VERSION

#: Nations the hub knows, mapped to the ``holidays`` UK subdivisions whose bank holidays
#: close agencies there. England and Wales are one jurisdiction and share one list today;
#: "england-and-wales" takes the union so that a day off in either closes the office.
NATIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "england-and-wales": ("ENG", "WLS"),
        "england": ("ENG",),
        "wales": ("WLS",),
        "scotland": ("SCT",),
        "northern-ireland": ("NIR",),
    }
)

#: Name given to the caller's own closure days (``extra_holidays``).
LOCAL_CLOSURE = "Local closure day"

# No real calendar goes a month without a working day (Christmas to New Year is the
# longest gap); a longer search means broken settings (every day listed as a closure),
# not a reason to spin.
_MAX_SEARCH_DAYS = 31


def holidays_version() -> str:
    """Version of the ``holidays`` package in use: record it beside computed deadlines.

    A new version may add or move a bank holiday (the UK declares special ones at a few
    months' notice). :meth:`WorkingCalendar.fingerprint` says whether that matters for a
    given range; this says which data the hub ran with.
    """
    return str(_HOLIDAYS_VERSION)


@lru_cache(maxsize=256)
def _bank_holidays(subdivision: str, year: int) -> tuple[tuple[date, str], ...]:
    # One year at a time keeps the cache small and avoids the package's lazy expansion
    # mutating a shared object under us.
    found = holidays.country_holidays("GB", subdiv=subdivision, years=year)
    return tuple(sorted((d, str(name)) for d, name in found.items()))


@lru_cache(maxsize=256)
def _bank_holiday_dates(subdivision: str, year: int) -> frozenset[date]:
    return frozenset(d for d, _ in _bank_holidays(subdivision, year))


class WorkingCalendar:
    """Working days and agency hours for one nation, in one time zone.

    ``extra_holidays`` are local closure days (a council's closure between Christmas and
    New Year, say): they are not working days either. ``hours`` are the agencies' opening
    and closing wall-clock times, closing time exclusive.
    """

    __slots__ = ("_closes", "_extra", "_nation", "_opens", "_subdivisions", "_tz", "_zone")

    def __init__(
        self,
        nation: str = "england-and-wales",
        tz: str = "Europe/London",
        extra_holidays: Iterable[date] = (),
        hours: tuple[time, time] = (time(8), time(18)),
    ) -> None:
        if nation not in NATIONS:
            raise ValueError(f"unknown nation {nation!r} (known: {', '.join(NATIONS)})")
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {tz!r}") from exc
        opens, closes = hours
        for t in (opens, closes):
            if t.tzinfo is not None:
                raise ValueError("working hours are wall-clock times: give them without a zone")
        if not opens < closes:
            raise ValueError(f"working hours must open before they close, not {opens}-{closes}")
        extra = frozenset(extra_holidays)
        for d in extra:
            if isinstance(d, datetime) or not isinstance(d, date):
                raise ValueError(f"extra holiday {d!r} must be a date")
        self._nation = nation
        self._subdivisions = NATIONS[nation]
        self._tz = tz
        self._zone = zone
        self._opens = opens
        self._closes = closes
        self._extra = extra

    # -- identity -------------------------------------------------------------------

    @property
    def nation(self) -> str:
        return self._nation

    @property
    def tz(self) -> str:
        return self._tz

    @property
    def hours(self) -> tuple[time, time]:
        return (self._opens, self._closes)

    @property
    def extra_holidays(self) -> frozenset[date]:
        return self._extra

    def _key(self) -> tuple[str, str, time, time, frozenset[date]]:
        return (self._nation, self._tz, self._opens, self._closes, self._extra)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkingCalendar):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(nation={self._nation!r}, tz={self._tz!r}, "
            f"extra_holidays={sorted(self._extra)!r}, hours=({self._opens!r}, {self._closes!r}))"
        )

    # -- days -----------------------------------------------------------------------

    def holidays_between(self, first: date, last: date) -> tuple[tuple[date, str], ...]:
        """Every non-working day other than weekends from ``first`` to ``last`` inclusive,
        with its name, in date order (weekend bank holidays included, as the package
        lists them; their substitute days appear as "(observed)")."""
        found: dict[date, str] = {}
        for year in range(first.year, last.year + 1):
            for sub in self._subdivisions:
                for d, name in _bank_holidays(sub, year):
                    found.setdefault(d, name)
        for d in self._extra:
            found.setdefault(d, LOCAL_CLOSURE)
        return tuple(sorted((d, n) for d, n in found.items() if first <= d <= last))

    def is_working_day(self, d: date) -> bool:
        """Monday to Friday, and neither a bank holiday nor a local closure day.

        Takes a *local* date. A ``datetime`` is refused rather than silently truncated:
        the UTC date of an instant is not its London date for an hour each summer night.
        """
        if isinstance(d, datetime):
            raise TypeError("is_working_day takes a local date; use a datetime's local date")
        if d.weekday() >= 5 or d in self._extra:
            return False
        return not any(d in _bank_holiday_dates(sub, d.year) for sub in self._subdivisions)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        for step in range(1, _MAX_SEARCH_DAYS + 1):
            candidate = d + timedelta(days=step)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days after {d}")

    # -- instants -------------------------------------------------------------------

    def _local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("deadline arithmetic needs timezone-aware datetimes (UTC)")
        return instant.astimezone(self._zone)

    def _at(self, d: date, t: time) -> datetime:
        # A wall-clock time that does not exist (inside the spring-forward gap) resolves
        # one gap later; one that happens twice (autumn) resolves to its first occurrence
        # (zoneinfo's fold=0). Both only arise on Sundays, never a working day, so the
        # rule matters for calendar days alone.
        return datetime.combine(d, t, tzinfo=self._zone).astimezone(UTC)

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """``start`` plus elapsed hours, in UTC: a 48-hour deadline is 172,800 seconds
        later whether or not the clocks change in between. ``hours`` may be negative
        (a warning before a deadline)."""
        self._local(start)  # refuses naive datetimes
        return start.astimezone(UTC) + timedelta(hours=hours)

    def add_days(self, start: datetime, n: int) -> datetime:
        """The same local wall-clock time ``n`` calendar dates later (``n`` may be
        negative): "within 2 weeks" of a plan agreed at 10:00 ends at 10:00 London time,
        even across a clock change."""
        local = self._local(start)
        return self._at(local.date() + timedelta(days=n), local.time())

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The same local wall-clock time ``n`` working days later.

        The rule for a ``start`` outside working time (a weekend, a bank holiday, a local
        closure, or a working day before opening or from closing time on): it counts as
        arriving when the agencies next open, as post is deemed received on the next
        business day. So a referral at 03:00 on Saturday, or at 23:00 on Friday, with 2
        working days to run is due at 08:00 on Wednesday or Tuesday: Monday 08:00 is day
        0, and the agency gets whole working days to answer. Within working hours the
        wall-clock time is kept: Friday 27 March 2026 10:00 GMT plus 2 is Tuesday 31 March
        10:00 BST. Consequences: the result always falls within working hours, and it
        never goes backwards as ``start`` moves forwards (a rule keeping the hour of a
        working day's small hours but moving weekend starts to 08:00 would make Monday
        00:30 due before Sunday 23:30). ``n == 0`` gives that arrival time itself.
        """
        if n < 0:
            raise ValueError("add_working_days counts forwards only")
        arrival = self.next_agency_window(start)
        if n == 0:
            return arrival
        local = arrival.astimezone(self._zone)
        day = local.date()
        for _ in range(n):
            day = self.next_working_day(day)
        return self._at(day, local.time())

    def is_agency_time(self, instant: datetime) -> bool:
        """Within opening hours (closing time exclusive) on a working day, locally."""
        local = self._local(instant)
        return self.is_working_day(local.date()) and self._opens <= local.time() < self._closes

    def next_agency_window(self, instant: datetime) -> datetime:
        """``instant`` itself if agencies are open then; otherwise the next opening time
        (08:00 London by default) on a working day. Friday 17:59 stays; Friday 18:00 and
        Saturday 03:00 both become Monday 08:00 (Tuesday after a bank holiday Monday)."""
        if self.is_agency_time(instant):
            return instant.astimezone(UTC)
        local = self._local(instant)
        day = local.date()
        if self.is_working_day(day) and local.time() < self._opens:
            return self._at(day, self._opens)
        return self._at(self.next_working_day(day), self._opens)

    # -- change detection -------------------------------------------------------------

    def fingerprint(self, first: date, last: date) -> str:
        """A digest of everything that decides working time from ``first`` to ``last``:
        nation, zone, hours and the non-working dates (not their names).

        Store it with each open deadline, over that deadline's own range (anchor date to a
        few weeks past the due date, so late steps are covered); when a later fingerprint
        over the same range differs (a new ``holidays`` release declared a special bank
        holiday, a closure day was configured), recompute those deadlines. Steps are
        keyed by name, not time, so recomputing never resends a step already sent.
        """
        lines = [
            "v1",
            f"nation={self._nation}",
            f"tz={self._tz}",
            f"hours={self._opens.isoformat()}-{self._closes.isoformat()}",
        ]
        lines += [d.isoformat() for d, _ in self.holidays_between(first, last)]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def readable_time(at: datetime, timezone: str) -> str:
    """``at`` as people read it in mail and on the agency's pages, in the hub's zone
    (UTC is for storage only: DESIGN.md, Time)."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%A %d %B %Y, %H:%M")
