"""What a referral says, once the mail around it has been peeled away.

These are plain values: the parsers in ``hub.mail`` build them from raw
email, the intake service stores them, and the rules in this package judge them. Nothing
here knows about MIME, databases or time zones beyond what a date is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Role(StrEnum):
    """The three MEs of the evaluation report (section 5.1): victim, perpetrator, children."""

    VICTIM = "victim"
    PERPETRATOR = "perpetrator"
    CHILD = "child"


@dataclass(frozen=True)
class Person:
    """One ME as the referral describes them. Every field may be missing in real mail."""

    role: Role
    name: str | None = None
    date_of_birth: date | None = None
    gender: str | None = None
    address: str | None = None
    phone: str | None = None
    # Free-form extras the form carries (relationship, custody, school, safe to contact...).
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Referrer:
    """Who made the referral (from the form, not from the envelope)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file that came with the referral mail; kept (encrypted) with the case."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Referral:
    """A referral as parsed, before any decision about it is made.

    ``source`` says which reader produced it ("form", "html-form", "json", "none");
    ``parse_problems`` lists what the reader could not make sense of, in words a team
    leader can act on and without any personal data.
    """

    source: str
    force_reference: str | None = None
    referral_reason: str | None = None
    dash_score: int | None = None
    risk_level: str | None = None
    division: str | None = None
    area: str | None = None
    referrer: Referrer = field(default_factory=Referrer)
    incident_at: datetime | None = None
    incident_location: str | None = None
    children_present: bool | None = None
    victim: Person | None = None
    perpetrator: Person | None = None
    children: tuple[Person, ...] = ()
    summary: str | None = None
    attachments: tuple[Attachment, ...] = ()
    parse_problems: tuple[str, ...] = ()
    # Set when the referral reached us forwarded: the forwarding sender's address.
    forwarded_by: str | None = None


def missing_required(referral: Referral) -> list[str]:
    """The problems that make a referral need triage (DESIGN.md, "Referral form").

    A clean case needs a force reference, the referrer's email, and the victim's name and
    date of birth. Anything less still becomes a case, in ``needs-triage``.
    """
    problems: list[str] = []
    if not referral.force_reference:
        problems.append("force reference missing")
    if not referral.referrer.email:
        problems.append("referrer email missing")
    if referral.victim is None or not referral.victim.name:
        problems.append("victim name missing")
    if referral.victim is None or referral.victim.date_of_birth is None:
        problems.append("victim date of birth missing")
    return problems
