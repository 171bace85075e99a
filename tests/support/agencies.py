"""The test agencies: the case study's school, GP and health visitors, defined once.

Every test and benchmark takes its agency directory (the ``agencies.toml`` a hub syncs)
from here. A test that needs the agencies reachable elsewhere, or only some of them,
says so with :func:`agencies` rather than writing a directory of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHOOL, GP, HEALTH_VISITOR = "st-aidans-primary", "larch-street-surgery", "preston-health-visitors"


@dataclass(frozen=True)
class Agency:
    """One entry of the agency directory (config/agencies.toml's ``[[agency]]``)."""

    slug: str
    name: str
    type: str
    emails: tuple[str, ...]
    box_public_key: str | None = None


# The case study's agencies, with mailboxes on the test Dovecot (tests add those users).
AGENCIES: tuple[Agency, ...] = (
    Agency(SCHOOL, "St Aidan's Primary School", "school", ("dsl.school@hub.test",)),
    Agency(GP, "Larch Street Surgery", "gp", ("safeguarding.gp@hub.test",)),
    Agency(
        HEALTH_VISITOR, "Preston Health Visiting Team", "health-visitor", ("hv.preston@hub.test",)
    ),
)
# Each agency's first mailbox, by slug.
MAILBOX = {agency.slug: agency.emails[0] for agency in AGENCIES}
# The same agencies reachable outside hub.test: the test SMTP server records their mail
# and delivers none of it, so no Dovecot users are needed.
ELSEWHERE: Mapping[str, tuple[str, ...]] = {
    SCHOOL: ("school@agency.example",),
    GP: ("gp@agency.example",),
    HEALTH_VISITOR: ("hv@agency.example",),
}


def agencies(
    *,
    only: Sequence[str] | None = None,
    emails: Mapping[str, Sequence[str]] | None = None,
    box_public_keys: Mapping[str, str] | None = None,
) -> tuple[Agency, ...]:
    """The test agencies, ``only`` some of them (by slug), with other mailboxes or keys."""
    chosen = [a for a in AGENCIES if only is None or a.slug in only]
    return tuple(
        dataclasses.replace(
            a,
            emails=tuple((emails or {}).get(a.slug, a.emails)),
            box_public_key=(box_public_keys or {}).get(a.slug, a.box_public_key),
        )
        for a in chosen
    )


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def directory(entries: Iterable[Agency] = AGENCIES) -> str:
    """The agency directory as TOML, as an operator writes it."""
    blocks = []
    for a in entries:
        lines = [
            "[[agency]]",
            f"slug = {_quoted(a.slug)}",
            f"name = {_quoted(a.name)}",
            f"type = {_quoted(a.type)}",
            "emails = [" + ", ".join(_quoted(e) for e in a.emails) + "]",
        ]
        if a.box_public_key is not None:
            lines.append(f"box_public_key = {_quoted(a.box_public_key)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def write_directory(path: Path, entries: Iterable[Agency] = AGENCIES) -> Path:
    """Write the directory to ``path`` (``agencies.toml``); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(directory(entries), encoding="utf-8")
    return path
