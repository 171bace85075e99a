"""The parts of a deadline policy: who a step goes to, the steps, and the rules for
information requests and milestones."""

from __future__ import annotations

from dataclasses import dataclass

from hub.domain.policy.durations import Duration

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


class PolicyError(ValueError):
    """The policy file is wrong; ``key`` is the dotted path of the bad key
    (``milestones.plan-48h.steps[2].offset``) so the message points straight at it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"policy key {key}: {problem}")
        self.key = key
        self.problem = problem


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
