"""The deadline policy: defaults from the report, and a named key for every mistake."""

import copy
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from hub.domain.calendar import WorkingCalendar
from hub.domain.policy import (
    DEFAULT_POLICY,
    Duration,
    Policy,
    PolicyError,
    default_policy_data,
)

EXAMPLE = Path(__file__).parents[2] / "config" / "policy.example.toml"


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def _error(data: dict[str, Any]) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        Policy.from_dict(data)
    return caught.value


# -- the defaults ------------------------------------------------------------------------


def test_the_example_file_is_the_default_policy_key_for_key() -> None:
    assert _example() == default_policy_data()
    assert Policy.from_dict(_example()) == DEFAULT_POLICY


def test_every_key_in_the_example_file_has_a_comment_above_it() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if "=" in stripped and not stripped.startswith("#"):
            assert lines[i - 1].strip().startswith("#"), f"no comment above line {i + 1}"


def test_an_empty_policy_is_the_default() -> None:
    assert Policy.from_dict({}) == DEFAULT_POLICY


def test_the_defaults_are_the_report_milestones_and_response_times() -> None:
    p = DEFAULT_POLICY
    assert p.request("urgent").respond_within == Duration(24, "h")
    assert p.request("standard").respond_within == Duration(5, "wd")
    assert p.milestone("plan-48h").due == Duration(48, "h")
    assert p.milestone("review-2w").due == Duration(14, "d")
    assert p.milestone("closure-notice-24h").due == Duration(24, "h")
    plan = [(s.name, str(s.offset), s.to) for s in p.milestone("plan-48h").steps]
    assert plan == [
        ("warn-24h", "-24h", ("coordinator",)),
        ("warn-4h", "-4h", ("coordinator",)),
        ("due", "0h", ("coordinator", "team-leader")),
        ("overdue-24h", "24h", ("team-leader",)),
    ]
    chase = [(s.name, s.offset.amount, s.to) for s in p.request("standard").chase]
    assert chase == [
        ("reminder", -24, ("agency",)),
        ("chase", 0, ("agency",)),
        ("escalate-coordinator", 24, ("coordinator",)),
        ("escalate-team-leader", 72, ("team-leader",)),
    ]
    assert p.agency_hours == (time(8), time(18))
    assert p.working_calendar() == WorkingCalendar()


def test_a_partial_file_keeps_the_other_defaults() -> None:
    p = Policy.from_dict({"milestones": {"plan-48h": {"due": "72h"}}})
    assert p.milestone("plan-48h").due == Duration(72, "h")
    assert p.milestone("plan-48h").steps == DEFAULT_POLICY.milestone("plan-48h").steps
    assert p.milestones[1:] == DEFAULT_POLICY.milestones[1:]
    assert p.requests == DEFAULT_POLICY.requests


def test_a_list_of_steps_replaces_the_default_list_whole() -> None:
    steps = [{"name": "due", "offset": "0h", "to": ["team-leader"]}]
    p = Policy.from_dict({"milestones": {"review-2w": {"steps": steps}}})
    assert [s.name for s in p.milestone("review-2w").steps] == ["due"]


def test_calendar_settings_accept_toml_dates_and_times() -> None:
    p = Policy.from_dict(
        {
            "calendar": {
                "nation": "scotland",
                "agency_opens": time(9),
                "agency_closes": "17:30",
                "extra_holidays": [date(2026, 12, 24), "2026-12-31"],
            }
        }
    )
    assert p.agency_hours == (time(9), time(17, 30))
    assert p.extra_holidays == (date(2026, 12, 24), date(2026, 12, 31))
    assert p.working_calendar() == WorkingCalendar(
        nation="scotland",
        extra_holidays=[date(2026, 12, 24), date(2026, 12, 31)],
        hours=(time(9), time(17, 30)),
    )


def test_unknown_lookups_are_key_errors() -> None:
    with pytest.raises(KeyError):
        DEFAULT_POLICY.request("whenever")
    with pytest.raises(KeyError):
        DEFAULT_POLICY.milestone("plan-72h")


# -- durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48h", Duration(48, "h")),
        ("-24h", Duration(-24, "h")),
        ("+24h", Duration(24, "h")),
        ("0h", Duration(0, "h")),
        ("14d", Duration(14, "d")),
        ("5wd", Duration(5, "wd")),
    ],
)
def test_durations_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize("text", ["5x", "", "h", "24", "2.5h", "24 h", "1w", "9999wd"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Duration.parse(text)


def test_only_hours_have_a_fixed_length() -> None:
    assert Duration(-4, "h").as_timedelta().total_seconds() == -4 * 3600
    with pytest.raises(ValueError):
        Duration(14, "d").as_timedelta()


# -- validation: each error names its key -------------------------------------------------


def test_an_unknown_top_level_key_is_named() -> None:
    err = _error({"milestone": {}})
    assert err.key == "milestone"
    assert "unknown key" in str(err)


def test_an_unknown_nested_key_is_named() -> None:
    assert _error({"milestones": {"plan-48h": {"dew": "48h"}}}).key == "milestones.plan-48h.dew"
    assert _error({"milestones": {"plan-72h": {}}}).key == "milestones.plan-72h"
    assert _error({"requests": {"immediate": {}}}).key == "requests.immediate"
    assert _error({"calendar": {"opens": "08:00"}}).key == "calendar.opens"


def test_a_bad_duration_is_named() -> None:
    err = _error({"requests": {"standard": {"respond_within": "5x"}}})
    assert err.key == "requests.standard.respond_within"
    assert "'5x' is not a duration" in str(err)


def test_a_bad_step_offset_is_named_with_its_index() -> None:
    data = default_policy_data()
    data["milestones"]["plan-48h"]["steps"][2]["offset"] = "5x"  # type: ignore[index]
    assert _error(data).key == "milestones.plan-48h.steps[2].offset"


def test_step_offsets_must_be_in_hours() -> None:
    data = {
        "milestones": {
            "plan-48h": {"steps": [{"name": "a", "offset": "-1d", "to": ["coordinator"]}]}
        }
    }
    assert _error(data).key == "milestones.plan-48h.steps[0].offset"


def test_a_duplicate_step_name_is_refused() -> None:
    data = default_policy_data()
    steps = data["milestones"]["plan-48h"]["steps"]  # type: ignore[index]
    steps.append(copy.deepcopy(steps[0]))
    err = _error(data)
    assert err.key == "milestones.plan-48h.steps[4].name"
    assert "duplicate step name 'warn-24h'" in str(err)


def test_a_duplicate_chase_step_name_is_refused() -> None:
    chase = [
        {"name": "chase", "offset": "0h", "to": ["agency"]},
        {"name": "chase", "offset": "+24h", "to": ["agency"]},
    ]
    err = _error({"requests": {"urgent": {"chase": chase}}})
    assert err.key == "requests.urgent.chase[1].name"


@pytest.mark.parametrize("bad", ["-5wd", "-24h", "0h", "0wd"])
def test_a_response_time_must_be_positive(bad: str) -> None:
    err = _error({"requests": {"standard": {"respond_within": bad}}})
    assert err.key == "requests.standard.respond_within"
    assert "positive" in str(err)


def test_a_milestone_deadline_must_be_positive() -> None:
    assert _error({"milestones": {"review-2w": {"due": "-14d"}}}).key == "milestones.review-2w.due"


@pytest.mark.parametrize(
    ("step", "key", "words"),
    [
        ({"name": "a", "offset": "0h", "to": ["police"]}, "to", "unknown role"),
        ({"name": "a", "offset": "0h", "to": []}, "to", "names nobody"),
        ({"name": "a", "offset": "0h", "to": ["coordinator", "coordinator"]}, "to", "twice"),
        ({"name": "a", "offset": "0h", "to": "coordinator"}, "to", "must be a list"),
        ({"name": "A b", "offset": "0h", "to": ["coordinator"]}, "name", "lower-case"),
        ({"name": "a", "to": ["coordinator"]}, "offset", "missing"),
        ({"name": "a", "offset": "0h", "to": ["coordinator"], "cc": []}, "cc", "unknown key"),
    ],
)
def test_bad_steps_are_named(step: dict[str, Any], key: str, words: str) -> None:
    err = _error({"milestones": {"plan-48h": {"steps": [step]}}})
    assert err.key == f"milestones.plan-48h.steps[0].{key}"
    assert words in str(err)


def test_milestone_warnings_do_not_go_to_agencies() -> None:
    step = {"name": "a", "offset": "0h", "to": ["agency"]}
    err = _error({"milestones": {"closure-notice-24h": {"steps": [step]}}})
    assert err.key == "milestones.closure-notice-24h.steps[0].to"


def test_a_chase_step_goes_to_the_agency_or_to_staff_not_both() -> None:
    step = {"name": "a", "offset": "0h", "to": ["agency", "coordinator"]}
    err = _error({"requests": {"standard": {"chase": [step]}}})
    assert err.key == "requests.standard.chase[0].to"
    assert "split it" in str(err)


@pytest.mark.parametrize(
    ("calendar", "key"),
    [
        ({"nation": "atlantis"}, "calendar.nation"),
        ({"timezone": "Europe/Atlantis"}, "calendar.timezone"),
        ({"agency_opens": "25:00"}, "calendar.agency_opens"),
        ({"agency_opens": 8}, "calendar.agency_opens"),
        ({"agency_opens": "18:00", "agency_closes": "08:00"}, "calendar.agency_closes"),
        ({"extra_holidays": ["24/12/2026"]}, "calendar.extra_holidays[0]"),
        ({"extra_holidays": "2026-12-24"}, "calendar.extra_holidays"),
    ],
)
def test_bad_calendar_settings_are_named(calendar: dict[str, Any], key: str) -> None:
    assert _error({"calendar": calendar}).key == key


def test_a_section_that_is_not_a_table_is_named() -> None:
    assert _error({"requests": ["standard"]}).key == "requests"
    assert _error({"milestones": {"plan-48h": "48h"}}).key == "milestones.plan-48h"


def test_policy_errors_are_value_errors_saying_which_key() -> None:
    err = _error({"requests": {"urgent": {"respond_within": "-1h"}}})
    assert isinstance(err, ValueError)
    assert str(err).startswith("policy key requests.urgent.respond_within:")
