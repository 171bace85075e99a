"""Working days, bank holidays, clock changes and agency hours in London."""

from datetime import UTC, date, datetime, time, timedelta
from importlib.metadata import version
from zoneinfo import ZoneInfo

import pytest

from hub.domain.calendar import WorkingCalendar, holidays_version

LONDON = ZoneInfo("Europe/London")
CAL = WorkingCalendar()


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def london(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A London wall-clock time, as the UTC instant the calendar takes and gives."""
    return datetime(y, mo, d, h, mi, tzinfo=LONDON).astimezone(UTC)


# -- working days ------------------------------------------------------------------------


def test_weekends_and_english_bank_holidays_of_2026_are_not_working_days() -> None:
    assert not CAL.is_working_day(date(2026, 3, 14))  # Saturday
    assert not CAL.is_working_day(date(2026, 3, 15))  # Sunday
    assert not CAL.is_working_day(date(2026, 4, 3))  # Good Friday
    assert not CAL.is_working_day(date(2026, 4, 6))  # Easter Monday
    assert not CAL.is_working_day(date(2026, 5, 25))  # Spring bank holiday
    assert not CAL.is_working_day(date(2026, 12, 28))  # Boxing Day (observed)
    assert CAL.is_working_day(date(2026, 4, 2))
    assert CAL.is_working_day(date(2026, 4, 7))
    assert CAL.is_working_day(date(2026, 5, 26))


def test_each_nation_uses_its_own_bank_holidays() -> None:
    scotland = WorkingCalendar(nation="scotland")
    northern_ireland = WorkingCalendar(nation="northern-ireland")
    assert scotland.is_working_day(date(2026, 4, 6))  # no Easter Monday in Scotland
    assert not scotland.is_working_day(date(2026, 1, 2))
    assert not northern_ireland.is_working_day(date(2026, 3, 17))  # St Patrick's Day
    assert CAL.is_working_day(date(2026, 3, 17))


def test_extra_closure_days_are_not_working_days() -> None:
    cal = WorkingCalendar(extra_holidays=[date(2026, 12, 24)])
    assert not cal.is_working_day(date(2026, 12, 24))
    assert CAL.is_working_day(date(2026, 12, 24))
    assert (date(2026, 12, 24), "Local closure day") in cal.holidays_between(
        date(2026, 12, 1), date(2026, 12, 31)
    )


def test_a_datetime_is_refused_where_a_local_date_is_meant() -> None:
    with pytest.raises(TypeError):
        CAL.is_working_day(utc(2026, 4, 3, 12))


def test_easter_2026_is_listed_by_name() -> None:
    listed = dict(CAL.holidays_between(date(2026, 4, 1), date(2026, 4, 30)))
    assert listed == {date(2026, 4, 3): "Good Friday", date(2026, 4, 6): "Easter Monday"}


# -- adding working days -------------------------------------------------------------------


def test_working_days_skip_the_weekend() -> None:
    # Thursday 12 March 10:00 GMT + 2 working days = Monday 16 March 10:00 GMT.
    assert CAL.add_working_days(london(2026, 3, 12, 10), 2) == london(2026, 3, 16, 10)


def test_working_days_skip_good_friday_and_easter_monday() -> None:
    start = london(2026, 4, 2, 10)  # Thursday before Easter, BST
    assert CAL.add_working_days(start, 1) == london(2026, 4, 7, 10)
    assert CAL.add_working_days(start, 2) == london(2026, 4, 8, 10)
    assert CAL.add_working_days(start, 1) == utc(2026, 4, 7, 9)


def test_working_days_skip_the_late_may_bank_holiday() -> None:
    assert CAL.add_working_days(london(2026, 5, 22, 14), 1) == london(2026, 5, 26, 14)
    assert CAL.add_working_days(london(2026, 5, 22, 14), 1) == utc(2026, 5, 26, 13)


def test_working_days_keep_london_wall_clock_across_the_spring_clock_change() -> None:
    # Friday 27 March 10:00 GMT + 2 working days = Tuesday 31 March 10:00 BST = 09:00 UTC.
    start = utc(2026, 3, 27, 10)
    due = CAL.add_working_days(start, 2)
    assert due == utc(2026, 3, 31, 9)
    assert due.astimezone(LONDON).time() == time(10)


def test_working_days_keep_london_wall_clock_across_the_autumn_clock_change() -> None:
    # Friday 23 October 10:00 BST (09:00 UTC) + 2 = Tuesday 27 October 10:00 GMT.
    start = utc(2026, 10, 23, 9)
    due = CAL.add_working_days(start, 2)
    assert due == utc(2026, 10, 27, 10)
    assert due.astimezone(LONDON).time() == time(10)


def test_a_start_on_a_non_working_day_counts_from_the_next_opening() -> None:
    # Saturday 03:00: Monday 08:00 is day 0, so two working days end Wednesday 08:00.
    assert CAL.add_working_days(london(2026, 3, 14, 3), 2) == london(2026, 3, 18, 8)
    # Good Friday afternoon: Tuesday 08:00 is day 0 (Easter Monday is a holiday too).
    assert CAL.add_working_days(london(2026, 4, 3, 15), 1) == london(2026, 4, 8, 8)
    assert CAL.add_working_days(london(2026, 4, 3, 15), 0) == london(2026, 4, 7, 8)


def test_outside_hours_on_a_working_day_counts_from_the_next_opening() -> None:
    # Friday 23:00: Monday 08:00 is day 0. Friday 17:59 is in hours and keeps its time.
    assert CAL.add_working_days(london(2026, 3, 13, 23), 1) == london(2026, 3, 17, 8)
    assert CAL.add_working_days(london(2026, 3, 13, 18), 1) == london(2026, 3, 17, 8)
    assert CAL.add_working_days(london(2026, 3, 13, 17, 59), 1) == london(2026, 3, 16, 17, 59)
    assert CAL.add_working_days(london(2026, 3, 16, 7, 30), 1) == london(2026, 3, 17, 8)


def test_zero_working_days_is_the_arrival_time() -> None:
    assert CAL.add_working_days(london(2026, 3, 13, 10), 0) == london(2026, 3, 13, 10)
    assert CAL.add_working_days(london(2026, 3, 13, 23), 0) == london(2026, 3, 16, 8)


@pytest.mark.parametrize("start", [london(2026, 3, 25), london(2026, 10, 20)])
def test_working_day_deadlines_never_go_backwards_and_fall_in_working_hours(
    start: datetime,
) -> None:
    # Three weeks of starts every 15 minutes, over Easter or the autumn clock change.
    previous = CAL.add_working_days(start, 2)
    for quarter in range(1, 4 * 24 * 21):
        due = CAL.add_working_days(start + timedelta(minutes=15 * quarter), 2)
        assert due >= previous
        assert CAL.is_agency_time(due)
        previous = due


def test_negative_working_days_and_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_working_days(utc(2026, 3, 12, 10), -1)
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2026, 3, 12, 10), 1)
    with pytest.raises(ValueError):
        CAL.add_hours(datetime(2026, 3, 12, 10), 1)


# -- elapsed hours and calendar days -------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        utc(2026, 3, 28, 1),  # 48 hours over the spring-forward night
        utc(2026, 3, 29, 0, 30),  # starting just before 01:00 GMT on the night itself
        utc(2026, 10, 24, 10),  # 48 hours over the fall-back night
        utc(2026, 10, 25, 0, 30),  # inside the repeated hour (01:30 BST)
    ],
)
@pytest.mark.parametrize("hours", [4, 24, 48])
def test_elapsed_hours_are_exact_seconds_whatever_the_clocks_do(
    start: datetime, hours: int
) -> None:
    due = CAL.add_hours(start, hours)
    assert (due - start).total_seconds() == hours * 3600
    assert due.tzinfo == UTC


def test_elapsed_hours_move_the_london_wall_clock_across_a_clock_change() -> None:
    # Referral Saturday 28 March 01:00 GMT: 48 hours later it is 02:00 BST on Monday.
    due = CAL.add_hours(london(2026, 3, 28, 1), 48)
    assert due.astimezone(LONDON).replace(tzinfo=None) == datetime(2026, 3, 30, 2)


def test_calendar_days_keep_the_london_wall_clock() -> None:
    # Plan agreed Friday 20 March 10:00 GMT; two weeks later is Friday 3 April 10:00 BST.
    assert CAL.add_days(london(2026, 3, 20, 10), 14) == utc(2026, 4, 3, 9)
    assert CAL.add_days(london(2026, 10, 16, 10), 14) == utc(2026, 10, 30, 10)


def test_a_wall_clock_time_inside_the_spring_gap_resolves_an_hour_on() -> None:
    # 01:30 on 29 March 2026 never happens in London; it becomes 02:30 BST.
    assert CAL.add_days(london(2026, 3, 28, 1, 30), 1) == utc(2026, 3, 29, 1, 30)


# -- agency hours ------------------------------------------------------------------------


def test_saturday_night_waits_for_monday_morning() -> None:
    assert CAL.next_agency_window(london(2026, 3, 14, 3)) == london(2026, 3, 16, 8)


def test_friday_one_minute_before_closing_stays() -> None:
    at = london(2026, 3, 13, 17, 59)
    assert CAL.next_agency_window(at) == at


def test_friday_at_closing_time_waits_for_monday() -> None:
    assert CAL.next_agency_window(london(2026, 3, 13, 18)) == london(2026, 3, 16, 8)


def test_bank_holidays_are_skipped() -> None:
    # Thursday evening before Easter: Good Friday and Easter Monday are closed.
    assert CAL.next_agency_window(london(2026, 4, 2, 18, 30)) == london(2026, 4, 7, 8)
    assert CAL.next_agency_window(london(2026, 5, 22, 18)) == london(2026, 5, 26, 8)
    assert CAL.next_agency_window(london(2026, 5, 25, 11)) == london(2026, 5, 26, 8)


def test_early_morning_on_a_working_day_waits_for_opening_the_same_day() -> None:
    assert CAL.next_agency_window(london(2026, 3, 17, 7, 30)) == london(2026, 3, 17, 8)


def test_agency_hours_are_read_on_the_london_clock_in_summer() -> None:
    # 07:30 UTC is 08:30 BST: open. 17:30 UTC is 18:30 BST: closed until 07:00 UTC.
    assert CAL.next_agency_window(utc(2026, 3, 31, 7, 30)) == utc(2026, 3, 31, 7, 30)
    assert CAL.next_agency_window(utc(2026, 3, 31, 17, 30)) == utc(2026, 4, 1, 7)


def test_opening_hours_are_configurable() -> None:
    cal = WorkingCalendar(hours=(time(9), time(17)))
    assert cal.next_agency_window(london(2026, 3, 13, 17)) == london(2026, 3, 16, 9)


# -- change detection and checks -----------------------------------------------------------


def test_the_fingerprint_changes_when_a_holiday_in_range_changes() -> None:
    first, last = date(2026, 12, 1), date(2026, 12, 31)
    same = WorkingCalendar()
    closure = WorkingCalendar(extra_holidays=[date(2026, 12, 24)])
    elsewhere = WorkingCalendar(extra_holidays=[date(2027, 6, 1)])
    assert CAL.fingerprint(first, last) == same.fingerprint(first, last)
    assert CAL.fingerprint(first, last) != closure.fingerprint(first, last)
    assert CAL.fingerprint(first, last) == elsewhere.fingerprint(first, last)
    assert CAL.fingerprint(first, last) != WorkingCalendar(nation="scotland").fingerprint(
        first, last
    )


def test_the_holidays_version_is_the_installed_package() -> None:
    assert holidays_version() == version("holidays")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="nation"):
        WorkingCalendar(nation="atlantis")
    with pytest.raises(ValueError, match="time zone"):
        WorkingCalendar(tz="Europe/Atlantis")
    with pytest.raises(ValueError, match="open before"):
        WorkingCalendar(hours=(time(18), time(8)))


def test_calendars_with_the_same_settings_are_equal() -> None:
    assert WorkingCalendar() == CAL
    assert hash(WorkingCalendar()) == hash(CAL)
    assert WorkingCalendar(nation="wales") != CAL


def test_times_are_shown_in_the_hubs_zone_as_people_read_them() -> None:
    from hub.domain.calendar import readable_time

    # 23:30 UTC on 28 June is half past midnight on the 29th in London (BST).
    at = datetime(2026, 6, 28, 23, 30, tzinfo=UTC)
    assert readable_time(at, "Europe/London") == "Monday 29 June 2026, 00:30"
    assert readable_time(at, "UTC") == "Sunday 28 June 2026, 23:30"
