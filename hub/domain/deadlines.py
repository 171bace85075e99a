"""When milestones and information requests fall due, and which warnings, chases and
escalations are owed at a given moment.

The scheduler's sweep (DESIGN.md "One referral's way through") asks this module two
things about each open item, with ``now`` from the one clock:

- :func:`current_steps`: which steps to send now. Of every step whose time has come
  and that is not yet recorded as done (:func:`due_steps`), only the one that is true
  now for each audience: after an outage or a clock jump forward, a plan an hour
  overdue gets one "overdue" mail, not a stale "due in 4 hours" beside it. The steps it
  replaces are recorded as done (superseded), and its mail goes to everyone they would
  have told. A clock jump backwards sends nothing new, because done steps are
  remembered by name, not by time.
- :func:`next_action_at`: when to look at the item again (the indexed
  ``next_action_at`` column), or ``None`` when nothing is left.

Steps are identified by their policy name (``warn-4h``, ``chase``), unique per list, so
(subject, step name) is the alert ledger's unique key. Deadlines recomputed after a
policy or bank-holiday change keep their step names, so nothing already sent is sent
again; a step *added* to the policy after its time has passed is sent once, late.

Stopping: when a request is answered or withdrawn, or a milestone is met, the caller
stops scheduling it. :func:`cancel_remaining` lists the steps that will now never be
sent, for the audit trail; record them as done (or clear ``next_action_at``) in the
same transaction as the answer, and the sweep's re-read of the item under its row lock
sees a closed item and sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from hub.domain.calendar import WorkingCalendar
from hub.domain.policy import AGENCY, MILESTONES, Duration, Policy

MilestoneState = Literal["pending", "met", "missed-then-met", "missed"]

#: ``Step.kind`` of information-request steps (milestone steps carry the milestone kind).
REQUEST = "request"


@dataclass(frozen=True)
class Step:
    """One message owed at ``due`` to ``recipients`` (roles: ``coordinator``,
    ``team-leader``, ``agency``). ``kind`` is the milestone kind or ``"request"``;
    ``offset_hours`` is the step's place relative to the deadline (negative before),
    for the wording of the mail ("due in 4 hours", "24 hours overdue")."""

    name: str
    due: datetime
    recipients: tuple[str, ...]
    kind: str
    offset_hours: int = 0


def _sorted(steps: Iterable[Step]) -> list[Step]:
    return sorted(steps, key=lambda s: (s.due, s.offset_hours, s.name))


def advance(start: datetime, duration: Duration, calendar: WorkingCalendar) -> datetime:
    """``start`` moved on by ``duration`` in the duration's own unit (see the policy
    module's docstring): elapsed hours, calendar days or working days."""
    if duration.unit == "h":
        return calendar.add_hours(start, duration.amount)
    if duration.unit == "d":
        return calendar.add_days(start, duration.amount)
    return calendar.add_working_days(start, duration.amount)


def milestone_anchor(
    kind: str,
    *,
    referral_received_at: datetime,
    plan_agreed_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> datetime | None:
    """The instant milestone ``kind`` is counted from (the report's appendix):

    - ``plan-48h``: the referral's receipt by the hub;
    - ``review-2w``: the plan's agreement, or the referral's receipt when no plan has been
      recorded (a missing plan must not postpone the review for ever);
    - ``closure-notice-24h``: the case's closure; ``None`` while the case is open.
    """
    if kind == "plan-48h":
        return referral_received_at
    if kind == "review-2w":
        return plan_agreed_at if plan_agreed_at is not None else referral_received_at
    if kind == "closure-notice-24h":
        return closed_at
    raise KeyError(f"no milestone {kind!r} (known: {', '.join(MILESTONES)})")


def milestone_due(
    kind: str, anchor: datetime, policy: Policy, calendar: WorkingCalendar
) -> datetime:
    """When milestone ``kind`` falls due, counted from ``anchor`` (UTC)."""
    return advance(anchor, policy.milestone(kind).due, calendar)


def agency_due(issued_at: datetime, within: Duration, calendar: WorkingCalendar) -> datetime:
    """An agency's deadline ``within`` of ``issued_at``, in the agency's working hours:
    working days land there already; elapsed hours or calendar days that end at night,
    at a weekend or on a holiday move to the next opening (a 48-hour answer asked for
    at 04:03 on Wednesday is due at 08:00 on Friday, not at 04:03)."""
    return calendar.next_agency_window(advance(issued_at, within, calendar))


def request_due(
    issued_at: datetime, urgency: str, policy: Policy, calendar: WorkingCalendar
) -> datetime:
    """The default answer time of a request issued at ``issued_at`` (in the agency's
    working hours, :func:`agency_due`); the co-ordinator may set another, which is then
    the ``due`` given to :func:`steps_for_request`."""
    return agency_due(issued_at, policy.request(urgency).respond_within, calendar)


def steps_for_milestone(kind: str, due: datetime, policy: Policy) -> list[Step]:
    """The warnings around milestone ``kind`` due at ``due``, in time order.

    Milestone steps go to staff only (the policy refuses agency recipients here), so
    they are sent at any hour: a missed plan matters at 03:00 on a Sunday too.
    """
    return _sorted(
        Step(
            name=rule.name,
            due=due + rule.offset.as_timedelta(),
            recipients=rule.to,
            kind=kind,
            offset_hours=rule.offset.amount,
        )
        for rule in policy.milestone(kind).steps
    )


def steps_for_request(
    due: datetime,
    policy: Policy,
    calendar: WorkingCalendar,
    *,
    urgency: str = "standard",
    issued_at: datetime | None = None,
) -> list[Step]:
    """Reminders, chases and escalations for an information request due at ``due``.

    Agency-bound steps are moved into the agency's working hours
    (:meth:`WorkingCalendar.next_agency_window`). Staff escalations after the deadline
    are counted from the agency's chase: a request due at 20:00 is chased at 08:00 the
    next working morning, and its co-ordinator is told "24 hours overdue" a day after
    that, never before the agency was chased. When moving makes two agency steps land
    at the same opening (a Saturday reminder and a Saturday chase both become Monday
    08:00), only the later step in the policy is kept: one mail saying "overdue" rather
    than two at once. With ``issued_at``, steps that would go at or before the request
    itself (a "-24h" reminder on a request given less than a day) are left out: the
    request is its own reminder.
    """
    steps: list[Step] = []
    chased = calendar.next_agency_window(due)
    for rule in policy.request(urgency).chase:
        at = due + rule.offset.as_timedelta()
        if rule.to_agency:
            at = calendar.next_agency_window(at)
        elif rule.offset.amount > 0:
            at = max(at, chased + rule.offset.as_timedelta())
        if issued_at is not None and at <= issued_at:
            continue
        steps.append(Step(rule.name, at, rule.to, REQUEST, rule.offset.amount))
    latest_agency_at: dict[datetime, Step] = {}
    for step in steps:
        if is_agency_step(step):
            kept = latest_agency_at.get(step.due)
            if kept is None or step.offset_hours > kept.offset_hours:
                latest_agency_at[step.due] = step
    keep = set(latest_agency_at.values())
    return _sorted(s for s in steps if not is_agency_step(s) or s in keep)


def is_agency_step(step: Step) -> bool:
    """Whether ``step`` is mail to the agency (timed into its working hours)."""
    return AGENCY in step.recipients


def due_steps(steps: Iterable[Step], done: Set[str], now: datetime) -> list[Step]:
    """Every step whose time has come (``due <= now``) and whose name is not in
    ``done``, oldest first. Never skips a missed step; never sends one twice, provided
    the caller records each returned step as done in the same transaction as its mail.
    """
    return _sorted(s for s in steps if s.due <= now and s.name not in done)


@dataclass(frozen=True)
class Catchup:
    """What a sweep sends now: ``send`` (at most one step to the agency, then at most one
    to staff) and ``superseded`` (due steps that are no longer true and are recorded as
    done without mail)."""

    send: tuple[Step, ...]
    superseded: tuple[Step, ...]


def current_steps(
    steps: Iterable[Step], done: Set[str], now: datetime, *, agency_open: bool = True
) -> Catchup:
    """The steps that are true now, for a sweep that may be late.

    Of the due steps (:func:`due_steps`), only the latest to the agency and the latest
    to staff are sent: a sweep an hour after a plan fell due sends "1 hour overdue"
    once, not "due in 4 hours" and "due now" together. The staff step goes to everyone
    the steps it replaces would have told, so nobody owed news is left out. The agency
    step comes first: an agency is chased before its co-ordinator hears it is overdue.
    So when agency mail is due but the agency is closed (``agency_open`` false: a sweep
    late into the night or the weekend), nothing is sent until it opens.
    """
    due = due_steps(steps, done, now)
    if not agency_open and any(is_agency_step(s) for s in due):
        return Catchup((), ())
    send: list[Step] = []
    for to_agency in (True, False):
        group = [s for s in due if is_agency_step(s) == to_agency]
        if group:
            told = dict.fromkeys(r for s in group for r in s.recipients)
            send.append(replace(group[-1], recipients=tuple(told)))
    return Catchup(tuple(send), tuple(s for s in due if s.name not in {k.name for k in send}))


def next_action_at(steps: Iterable[Step], done: Set[str]) -> datetime | None:
    """The time of the earliest step not yet done, or ``None`` when none is left (store
    it in ``next_action_at`` so the sweep only reads items with work due)."""
    pending = [s.due for s in steps if s.name not in done]
    return min(pending) if pending else None


def cancel_remaining(steps: Iterable[Step], done: Set[str]) -> list[Step]:
    """The steps that will never be sent now the item is answered, withdrawn or met:
    every step not yet done, in order. Record their names as done (cancelled) and
    :func:`next_action_at` becomes ``None``."""
    return _sorted(s for s in steps if s.name not in done)


def milestone_state(due: datetime, met_at: datetime | None, now: datetime) -> MilestoneState:
    """Where a milestone stands at ``now``.

    ``met`` when met at or before its due time ("within 48 hours" includes the 48th
    hour); ``missed-then-met`` when met late (kept apart for the measures the report
    asks for, section 6.6); ``missed`` once ``now`` is past the due time with nothing
    met; ``pending`` until then.
    """
    if met_at is not None:
        return "met" if met_at <= due else "missed-then-met"
    return "missed" if now > due else "pending"
