"""What becomes of one inbound message: the intake decision, without I/O.

Outcomes are not errors (STYLE.md habit 3): a duplicate, a quarantined stranger, an
out-of-office reply and a referral with problems are all ordinary results, each with a
reason that can be logged because it carries no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.domain.referral import Referral, missing_required
from hub.domain.senders import SenderVerdict


class Outcome(StrEnum):
    CASE = "case"  # a clean referral: an open case
    TRIAGE = "triage"  # a case in needs-triage, problems listed
    DUPLICATE = "duplicate"  # the same message again (Message-ID + content hash)
    QUARANTINE = "quarantine"  # not from an allowed, authenticated sender
    MACHINE = "machine"  # auto-reply, out-of-office, bounce: recorded, never answered


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    problems: tuple[str, ...] = ()

    @property
    def opens_case(self) -> bool:
        return self.outcome in (Outcome.CASE, Outcome.TRIAGE)


def decide(
    referral: Referral,
    machine_reason: str | None,
    sender: SenderVerdict,
    *,
    oversized: bool = False,
    message_id_reused: bool = False,
) -> Decision:
    """Classify a message that is not a duplicate.

    Order matters: machine mail is recognised first so that a bounce from a stranger is
    never answered nor alerted on; then the sender is judged, so a stranger's perfect
    form is still quarantined; then the referral's own completeness.
    """
    if machine_reason:
        return Decision(Outcome.MACHINE, machine_reason)
    if not sender.allowed:
        return Decision(Outcome.QUARANTINE, sender.reason)
    problems = list(referral.parse_problems)
    if oversized:
        problems.append("message too large to read as a form: kept for manual triage")
    for problem in missing_required(referral):
        if problem not in problems:
            problems.append(problem)
    if message_id_reused:
        # RFC 5322 says a Message-ID names one message; a reuse with other content is
        # suspicious (or a broken mailer), so a person looks at it.
        problems.append("Message-ID already seen with different content")
    if problems:
        return Decision(Outcome.TRIAGE, "referral needs triage", tuple(problems))
    return Decision(Outcome.CASE, f"referral read from {referral.source}")


def case_reference(prefix: str, year: int, number: int) -> str:
    """``MR-2026-000123``: the prefix, the year received, a number unique to the hub."""
    return f"{prefix}-{year}-{number:06d}"
