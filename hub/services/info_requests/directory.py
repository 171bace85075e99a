"""The agency directory: ``agencies.toml`` loaded into the database, the entries checked
by the domain's rules (:mod:`hub.domain.agencies`)."""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.agencies import AgencyEntry, AgencyEntryError, agency_entry
from hub.services import audit
from hub.services.context import Context
from hub.services.info_requests.errors import RequestError
from hub.store.models import Agency


async def sync_agencies(
    ctx: Context, path: Path, actor: str, *, force: bool = False
) -> dict[str, int]:
    """Load ``agencies.toml`` into the database: add, update, and mark missing ones
    inactive (never delete: their requests stay on record). A file that lists no agency
    would deactivate them all: refused unless ``force``."""
    entries = _read_directory(await _read_text(path), path)
    if not entries and not force:
        raise RequestError(
            f"the agency directory {path} lists no agency: syncing it would deactivate "
            "every agency (give --force if that is what you mean)"
        )
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        existing = {a.slug: a for a in (await session.scalars(select(Agency))).all()}
        counts = _apply(session, existing, entries, now)
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="agencies.sync",
            object_ref="agencies",
            detail=counts,
        )
    return counts


async def _read_text(path: Path) -> str:
    """The file's text, read off the event loop."""
    try:
        return await asyncio.to_thread(path.read_text, encoding="utf-8")
    except OSError as exc:
        raise RequestError(f"cannot read the agency directory {path}: {exc}") from None


def _read_directory(text: str, path: Path) -> list[AgencyEntry]:
    """Every entry, checked; the first problem stops the whole load."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RequestError(f"cannot read the agency directory {path}: {exc}") from None
    listed = raw.get("agency", [])
    if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
        raise RequestError(
            f"the agency directory {path}: each agency is an [[agency]] table "
            "(with two pairs of brackets)"
        )
    entries: dict[str, AgencyEntry] = {}
    for n, entry in enumerate(listed, start=1):
        try:
            checked = agency_entry(entry, n)
        except AgencyEntryError as exc:
            raise RequestError(str(exc)) from None
        if checked.slug in entries:
            raise RequestError(f"agency #{n}: slug {checked.slug!r} appears twice")
        entries[checked.slug] = checked
    return list(entries.values())


async def list_agencies(ctx: Context) -> list[dict[str, Any]]:
    """Every agency in the database, active or not, by slug (no personal data: the
    directory names organisations and their mailboxes)."""
    async with ctx.sessions() as session, session.begin():
        rows = (await session.scalars(select(Agency).order_by(Agency.slug))).all()
    return [
        {
            "slug": a.slug,
            "name": a.name,
            "type": a.type,
            "emails": list(a.emails),
            "active": a.active,
            "response_hours": a.response_hours,
        }
        for a in rows
    ]


def _apply(
    session: AsyncSession, existing: dict[str, Agency], entries: list[AgencyEntry], now: datetime
) -> dict[str, int]:
    """Add the new agencies, update the known ones, deactivate the ones no longer listed."""
    counts = {"added": 0, "updated": 0, "deactivated": 0}
    for entry in entries:
        values = asdict(entry)
        agency = existing.get(entry.slug)
        if agency is None:
            session.add(Agency(**values, active=True, updated_at=now))
            counts["added"] += 1
            continue
        for k, v in values.items():
            setattr(agency, k, v)
        agency.active = True
        agency.updated_at = now
        counts["updated"] += 1
    listed = {e.slug for e in entries}
    for slug, agency in existing.items():
        if slug not in listed and agency.active:
            agency.active = False
            agency.updated_at = now
            counts["deactivated"] += 1
    return counts
