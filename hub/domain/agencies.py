"""The agency directory's rules: what kinds of agency there are and what makes an entry
of ``agencies.toml`` valid (MARRAC process step 7: the periphery team).

An agency is named by a slug (``larch-street-surgery``) that appears in signed request
documents, so it is checked here once, for both. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

AGENCY_TYPES = (
    "school",
    "gp",
    "health-visitor",
    "school-nurse",
    "housing",
    "csc",
    "asc",
    "probation",
    "mental-health",
    "substance-misuse",
    "idva",
    "citizens-advice",
    "other",
)
# The keys an entry may have; anything else is a typo that would silently do nothing.
ENTRY_KEYS = frozenset(
    {
        "slug",
        "name",
        "type",
        "emails",
        "shares_systems",
        "response_hours",
        "box_public_key",
        "verify_key",
    }
)
# The longest response time an agency may promise: 60 days, in hours.
MAX_RESPONSE_HOURS = 24 * 60

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class AgencyEntryError(ValueError):
    """An entry of the agency directory is malformed (the message says which and why)."""


def is_slug(text: str) -> bool:
    """Lower-case letters and digits in dash-separated words, e.g. ``larch-street-surgery``."""
    return _SLUG.fullmatch(text) is not None


@dataclass(frozen=True)
class AgencyEntry:
    """One agency as the directory file describes it, checked and normalised."""

    slug: str
    name: str
    type: str
    emails: list[str]
    shares_systems: bool
    # 0: the policy's default for the request's urgency
    response_hours: int
    # Optional keys (base64 of 32 bytes): seal the full request to the agency; verify
    # its answers.
    box_public_key: str | None
    verify_key: str | None


def agency_entry(entry: object, n: int) -> AgencyEntry:
    """The ``n``-th (1-based) ``[[agency]]`` table, checked; :class:`AgencyEntryError`
    names the first problem."""
    if not isinstance(entry, dict):
        raise AgencyEntryError(f"agency #{n} is not a table")
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise AgencyEntryError(f"agency #{n} has unknown key(s): {', '.join(sorted(unknown))}")
    slug = entry.get("slug", "")
    if not isinstance(slug, str) or not is_slug(slug):
        raise AgencyEntryError(f"agency #{n}: slug must be lower-case letters, digits and dashes")
    return _checked(slug, entry)


def _checked(slug: str, entry: Mapping[str, Any]) -> AgencyEntry:
    emails = entry.get("emails", [])
    if not emails or not all(isinstance(e, str) and "@" in e for e in emails):
        raise AgencyEntryError(f"agency {slug}: emails must list at least one address")
    kind = entry.get("type", "other")
    if kind not in AGENCY_TYPES:
        raise AgencyEntryError(f"agency {slug}: type must be one of {', '.join(AGENCY_TYPES)}")
    for key_name in ("box_public_key", "verify_key"):
        _check_public_key(slug, key_name, entry.get(key_name))
    hours = entry.get("response_hours", 0)
    if not isinstance(hours, int) or not 0 <= hours <= MAX_RESPONSE_HOURS:
        raise AgencyEntryError(f"agency {slug}: response_hours must be a whole number of hours")
    return AgencyEntry(
        slug=slug,
        name=str(entry.get("name") or slug),
        type=kind,
        emails=[e.strip().lower() for e in emails],
        shares_systems=bool(entry.get("shares_systems", False)),
        response_hours=hours,
        box_public_key=entry.get("box_public_key"),
        verify_key=entry.get("verify_key"),
    )


def _check_public_key(slug: str, key_name: str, value: Any) -> None:
    """An X25519 or Ed25519 public key: 32 bytes, in standard base64."""
    if value is None:
        return
    try:
        if len(base64.b64decode(value, validate=True)) != 32:
            raise ValueError
    except ValueError:
        raise AgencyEntryError(f"agency {slug}: {key_name} must be 32 bytes of base64") from None
