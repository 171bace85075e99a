"""Repeat referrals: the same people coming back.

SafeLives defines a repeat as a referral about abuse between the same victim and
perpetrator within 12 months of the last referral (the pilot saw 4 in 58 cases, report
section 6). Matching uses a normalised name plus date of birth, so that "Emma  CLARKE"
and "emma clarke" agree while two different people of the same name do not.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

REPEAT_WINDOW = timedelta(days=365)


def normalise_name(name: str) -> str:
    """Case-, accent-, punctuation- and spacing-insensitive form of a name."""
    decomposed = unicodedata.normalize("NFKD", name)
    # Drop accents and invisible format characters (zero-width joiners, BOMs, direction
    # overrides), which would otherwise let the same person escape matching.
    letters = "".join(
        c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) != "Cf"
    )
    cleaned = "".join(c if c.isalnum() else " " for c in letters.casefold())
    return " ".join(cleaned.split())


def identity_key(name: str | None, date_of_birth: date | None) -> str | None:
    """What the blind index is computed over; ``None`` when either part is missing."""
    if not name or date_of_birth is None:
        return None
    normalised = normalise_name(name)
    if not normalised:
        return None
    return f"{normalised}|{date_of_birth.isoformat()}"


@dataclass(frozen=True)
class EarlierCase:
    """An earlier case sharing a victim or perpetrator with the new referral."""

    case_id: int
    ref: str
    received_at: datetime
    same_victim: bool
    same_perpetrator: bool


@dataclass(frozen=True)
class RepeatDecision:
    linked: tuple[str, ...]
    repeat_of: EarlierCase | None


def decide_repeat(earlier: list[EarlierCase], now: datetime) -> RepeatDecision:
    """Link every earlier case that shares an ME; flag a repeat when the latest one with
    the same victim *and* perpetrator was referred within the last 12 months."""
    linked = tuple(c.ref for c in sorted(earlier, key=lambda c: c.received_at))
    pairs = [c for c in earlier if c.same_victim and c.same_perpetrator]
    if not pairs:
        return RepeatDecision(linked, None)
    latest = max(pairs, key=lambda c: c.received_at)
    if now - latest.received_at <= REPEAT_WINDOW:
        return RepeatDecision(linked, latest)
    return RepeatDecision(linked, None)
