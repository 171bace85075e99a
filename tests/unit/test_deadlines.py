"""Milestones, chasing and the sweep's questions: what is due now, and when next."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.domain.calendar import WorkingCalendar
from hub.domain.deadlines import (
    Step,
    agency_due,
    cancel_remaining,
    due_steps,
    milestone_anchor,
    milestone_due,
    milestone_state,
    next_action_at,
    request_due,
    steps_for_milestone,
    steps_for_request,
)
from hub.domain.policy import DEFAULT_POLICY, Duration, Policy

CAL = WorkingCalendar()
LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def london(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LONDON).astimezone(UTC)


# The appendix case: a domestic-abuse incident at 01:00 on day 1, referred at once.
REFERRAL = utc(2026, 3, 12, 1)


def _plan_steps() -> list[Step]:
    due = milestone_due("plan-48h", REFERRAL, DEFAULT_POLICY, CAL)
    return steps_for_milestone("plan-48h", due, DEFAULT_POLICY)


# -- milestones: the case-study timeline -------------------------------------------------


def test_the_case_study_plan_is_due_48_hours_after_the_referral() -> None:
    assert milestone_due("plan-48h", REFERRAL, DEFAULT_POLICY, CAL) == utc(2026, 3, 14, 1)


def test_the_case_study_plan_warnings_go_to_the_right_people_at_the_right_times() -> None:
    got = [(s.name, s.due, s.recipients, s.kind, s.offset_hours) for s in _plan_steps()]
    assert got == [
        ("warn-24h", utc(2026, 3, 13, 1), ("coordinator",), "plan-48h", -24),
        ("warn-4h", utc(2026, 3, 13, 21), ("coordinator",), "plan-48h", -4),
        ("due", utc(2026, 3, 14, 1), ("coordinator", "team-leader"), "plan-48h", 0),
        ("overdue-24h", utc(2026, 3, 15, 1), ("team-leader",), "plan-48h", 24),
    ]


def test_an_hourly_sweep_sends_each_step_exactly_once() -> None:
    # Given the plan's steps and a sweep every hour for five days
    steps = _plan_steps()
    done: set[str] = set()
    sent: list[tuple[str, datetime]] = []
    now = REFERRAL
    while now <= REFERRAL + timedelta(days=5):
        # When each sweep sends what is due and records it as done
        for step in due_steps(steps, done, now):
            sent.append((step.name, now))
            done.add(step.name)
        now += HOUR
    # Then every step went once, at its own time (the sweep is on the hour here)
    assert sent == [(s.name, s.due) for s in steps]
    assert next_action_at(steps, done) is None


def test_a_sweep_a_quarter_past_each_hour_sends_each_step_once_in_order() -> None:
    steps = _plan_steps()
    done: set[str] = set()
    sent: list[str] = []
    now = REFERRAL + timedelta(minutes=15)
    while now <= REFERRAL + timedelta(days=5):
        for step in due_steps(steps, done, now):
            assert now - step.due < HOUR
            sent.append(step.name)
            done.add(step.name)
        now += HOUR
    assert sent == ["warn-24h", "warn-4h", "due", "overdue-24h"]


def test_after_a_long_outage_every_missed_step_is_sent_once_in_order() -> None:
    steps = _plan_steps()
    late = utc(2026, 3, 20)
    missed = due_steps(steps, set(), late)
    assert [s.name for s in missed] == ["warn-24h", "warn-4h", "due", "overdue-24h"]
    assert due_steps(steps, {s.name for s in missed}, late + HOUR) == []


def test_a_clock_jump_forward_skips_no_step() -> None:
    steps = _plan_steps()
    done = {s.name for s in due_steps(steps, set(), utc(2026, 3, 13, 2))}
    assert done == {"warn-24h"}
    jumped = due_steps(steps, done, utc(2026, 3, 14, 12))
    assert [s.name for s in jumped] == ["warn-4h", "due"]


def test_a_clock_jump_backwards_sends_nothing_new() -> None:
    steps = _plan_steps()
    now = utc(2026, 3, 14, 2)
    done = {s.name for s in due_steps(steps, set(), now)}
    assert done == {"warn-24h", "warn-4h", "due"}
    for back in (HOUR, 10 * HOUR, timedelta(days=3)):
        assert due_steps(steps, done, now - back) == []


def test_next_action_at_is_the_earliest_step_not_done() -> None:
    steps = _plan_steps()
    assert next_action_at(steps, set()) == utc(2026, 3, 13, 1)
    assert next_action_at(steps, {"warn-24h"}) == utc(2026, 3, 13, 21)
    assert next_action_at(steps, {"warn-24h", "warn-4h", "due"}) == utc(2026, 3, 15, 1)
    assert next_action_at(steps, {s.name for s in steps}) is None
    assert next_action_at([], set()) is None


def test_a_met_milestone_cancels_its_remaining_warnings() -> None:
    steps = _plan_steps()
    done = {"warn-24h"}
    cancelled = cancel_remaining(steps, done)
    assert [s.name for s in cancelled] == ["warn-4h", "due", "overdue-24h"]
    done |= {s.name for s in cancelled}
    assert next_action_at(steps, done) is None
    assert due_steps(steps, done, utc(2026, 4, 1)) == []


def test_the_review_is_due_two_weeks_after_the_plan_at_the_same_london_time() -> None:
    # Plan agreed Friday 20 March 10:00 GMT; the clocks go forward on 29 March.
    anchor = milestone_anchor(
        "review-2w", referral_received_at=REFERRAL, plan_agreed_at=london(2026, 3, 20, 10)
    )
    assert anchor is not None
    due = milestone_due("review-2w", anchor, DEFAULT_POLICY, CAL)
    assert due == london(2026, 4, 3, 10) == utc(2026, 4, 3, 9)
    assert [s.due for s in steps_for_milestone("review-2w", due, DEFAULT_POLICY)] == [
        utc(2026, 4, 2, 9),
        utc(2026, 4, 3, 5),
        utc(2026, 4, 3, 9),
        utc(2026, 4, 4, 9),
    ]


def test_without_a_plan_the_review_counts_from_the_referral() -> None:
    assert milestone_anchor("review-2w", referral_received_at=REFERRAL) == REFERRAL


def test_the_closure_notice_counts_from_closure_and_waits_for_it() -> None:
    assert milestone_anchor("closure-notice-24h", referral_received_at=REFERRAL) is None
    closed = utc(2026, 4, 20, 16)
    anchor = milestone_anchor("closure-notice-24h", referral_received_at=REFERRAL, closed_at=closed)
    assert anchor == closed
    assert milestone_due("closure-notice-24h", closed, DEFAULT_POLICY, CAL) == utc(2026, 4, 21, 16)
    assert milestone_anchor("plan-48h", referral_received_at=REFERRAL) == REFERRAL
    with pytest.raises(KeyError):
        milestone_anchor("plan-72h", referral_received_at=REFERRAL)


def test_an_elapsed_hours_milestone_is_exact_across_the_clock_change() -> None:
    referral = utc(2026, 3, 28, 1)
    due = milestone_due("plan-48h", referral, DEFAULT_POLICY, CAL)
    assert (due - referral).total_seconds() == 48 * 3600
    autumn = utc(2026, 10, 24, 1)
    due = milestone_due("plan-48h", autumn, DEFAULT_POLICY, CAL)
    assert (due - autumn).total_seconds() == 48 * 3600


def test_a_working_day_milestone_uses_the_calendar() -> None:
    policy = Policy.from_dict({"milestones": {"plan-48h": {"due": "2wd"}}})
    assert milestone_due("plan-48h", utc(2026, 3, 27, 10), policy, CAL) == utc(2026, 3, 31, 9)


def test_milestone_warnings_go_at_any_hour() -> None:
    # A referral on Saturday at 03:00: the staff alerts are not moved to office hours.
    referral = london(2026, 3, 14, 3)
    due = milestone_due("plan-48h", referral, DEFAULT_POLICY, CAL)
    assert [s.due for s in steps_for_milestone("plan-48h", due, DEFAULT_POLICY)][:2] == [
        london(2026, 3, 15, 3),
        london(2026, 3, 15, 23),
    ]


# -- milestone states ----------------------------------------------------------------------


def test_milestone_state_pending_until_the_due_time_passes() -> None:
    due = utc(2026, 3, 14, 1)
    assert milestone_state(due, None, due - HOUR) == "pending"
    assert milestone_state(due, None, due) == "pending"
    assert milestone_state(due, None, due + SECOND) == "missed"


def test_milestone_state_met_on_time_including_the_last_second() -> None:
    due = utc(2026, 3, 14, 1)
    assert milestone_state(due, due - HOUR, due + timedelta(days=3)) == "met"
    assert milestone_state(due, due, due + HOUR) == "met"


def test_milestone_state_missed_then_met_when_met_late() -> None:
    due = utc(2026, 3, 14, 1)
    assert milestone_state(due, due + SECOND, due + HOUR) == "missed-then-met"


# -- information requests ------------------------------------------------------------------


def test_a_standard_request_is_due_in_five_working_days() -> None:
    issued = london(2026, 3, 11, 14)  # Wednesday
    assert request_due(issued, "standard", DEFAULT_POLICY, CAL) == london(2026, 3, 18, 14)
    issued = london(2026, 3, 31, 14)  # Tuesday before Easter: Good Friday, Easter Monday
    assert request_due(issued, "standard", DEFAULT_POLICY, CAL) == london(2026, 4, 9, 14)


def test_an_urgent_request_is_due_in_24_hours_within_the_agency_working_hours() -> None:
    issued = london(2026, 3, 17, 10)  # Tuesday
    assert request_due(issued, "urgent", DEFAULT_POLICY, CAL) == london(2026, 3, 18, 10)
    # Saturday noon plus 24 hours is Sunday noon: the agency is closed, so Monday 08:00
    # (issue 8: deadlines used to land on Saturdays and at 04:03).
    issued = utc(2026, 10, 24, 12)
    assert request_due(issued, "urgent", DEFAULT_POLICY, CAL) == london(2026, 10, 26, 8)


def test_an_agency_deadline_in_hours_moves_into_working_hours() -> None:
    wednesday_night = london(2026, 3, 11, 4, 3)
    assert agency_due(wednesday_night, Duration(48, "h"), CAL) == london(2026, 3, 13, 8)
    thursday = london(2026, 3, 12, 10)
    assert agency_due(thursday, Duration(48, "h"), CAL) == london(2026, 3, 16, 8)  # not Sat
    assert agency_due(thursday, Duration(5, "wd"), CAL) == london(2026, 3, 19, 10)


def test_request_steps_in_working_hours_keep_their_times_and_staff_escalate_on_saturday() -> None:
    due = london(2026, 3, 18, 14)  # Wednesday
    got = [
        (s.name, s.due, s.recipients, s.kind) for s in steps_for_request(due, DEFAULT_POLICY, CAL)
    ]
    assert got == [
        ("reminder", london(2026, 3, 17, 14), ("agency",), "request"),
        ("chase", london(2026, 3, 18, 14), ("agency",), "request"),
        ("escalate-coordinator", london(2026, 3, 19, 14), ("coordinator",), "request"),
        ("escalate-team-leader", london(2026, 3, 21, 14), ("team-leader",), "request"),
    ]


def test_agency_steps_move_into_working_hours() -> None:
    # Due Tuesday 7 April 10:00 BST: the reminder would fall on Easter Monday.
    due = london(2026, 4, 7, 10)
    steps = {s.name: s.due for s in steps_for_request(due, DEFAULT_POLICY, CAL)}
    assert steps["reminder"] == london(2026, 4, 7, 8)
    assert steps["chase"] == london(2026, 4, 7, 10)
    # Due Tuesday 17 March 20:00, after closing: every agency step waits for an opening.
    due = london(2026, 3, 17, 20)
    steps = {s.name: s.due for s in steps_for_request(due, DEFAULT_POLICY, CAL)}
    assert steps["reminder"] == london(2026, 3, 17, 8)
    assert steps["chase"] == london(2026, 3, 18, 8)
    # Counted from the chase: the co-ordinator hears a day after the agency was chased.
    assert steps["escalate-coordinator"] == london(2026, 3, 19, 8)


def test_agency_steps_landing_on_the_same_opening_collapse_to_the_later_one() -> None:
    # An urgent request sent Friday 03:00 and given (explicitly) until Saturday 03:00:
    # the reminder (Friday 23:00) and the chase both move to Monday 08:00, so only the
    # chase is sent. Staff escalations are counted from that chase, so the agency is
    # always chased before anyone is told it is overdue.
    issued = london(2026, 3, 13, 3)
    due = london(2026, 3, 14, 3)
    steps = steps_for_request(due, DEFAULT_POLICY, CAL, urgency="urgent", issued_at=issued)
    assert [(s.name, s.due) for s in steps] == [
        ("chase", london(2026, 3, 16, 8)),
        ("escalate-coordinator", london(2026, 3, 16, 12)),
        ("escalate-team-leader", london(2026, 3, 17, 8)),
    ]


def test_steps_before_the_request_itself_are_left_out() -> None:
    # The co-ordinator gave the agency 12 hours: a "-24h" reminder would precede it.
    issued = london(2026, 3, 16, 9)
    due = issued + 12 * HOUR
    names = [s.name for s in steps_for_request(due, DEFAULT_POLICY, CAL, issued_at=issued)]
    assert names == ["chase", "escalate-coordinator", "escalate-team-leader"]
    without = [s.name for s in steps_for_request(due, DEFAULT_POLICY, CAL)]
    assert without[0] == "reminder"


def test_a_request_answered_a_second_before_its_chase_is_not_chased() -> None:
    # Given a request due Wednesday 14:00 whose reminder went on Tuesday
    due = london(2026, 3, 18, 14)
    steps = steps_for_request(due, DEFAULT_POLICY, CAL)
    chase = next(s for s in steps if s.name == "chase")
    answered = chase.due - SECOND
    # When the sweep runs at the moment of the answer, nothing beyond the reminder is due
    assert [s.name for s in due_steps(steps, set(), answered)] == ["reminder"]
    assert due_steps(steps, {"reminder"}, answered) == []
    # And the caller, recording the answer, cancels the rest: nothing is ever sent again
    done = {"reminder"} | {s.name for s in cancel_remaining(steps, {"reminder"})}
    assert due_steps(steps, done, due + timedelta(days=30)) == []
    assert next_action_at(steps, done) is None


def test_a_request_sweep_sends_each_step_once_across_a_weekend() -> None:
    issued = london(2026, 3, 13, 3)
    due = request_due(issued, "urgent", DEFAULT_POLICY, CAL)
    steps = steps_for_request(due, DEFAULT_POLICY, CAL, urgency="urgent", issued_at=issued)
    done: set[str] = set()
    sent: list[str] = []
    now = issued
    while now < issued + timedelta(days=7):
        for step in due_steps(steps, done, now):
            sent.append(step.name)
            done.add(step.name)
        now += timedelta(minutes=10)
    assert sorted(sent) == sorted(s.name for s in steps)
    assert len(sent) == len(set(sent))


def test_unknown_urgencies_and_milestones_are_key_errors() -> None:
    with pytest.raises(KeyError):
        steps_for_request(REFERRAL, DEFAULT_POLICY, CAL, urgency="whenever")
    with pytest.raises(KeyError):
        steps_for_milestone("plan-72h", REFERRAL, DEFAULT_POLICY)
