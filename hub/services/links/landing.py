"""What a link shows: before the code, only what is on the mail already (the landing
page); after it, the people and questions in scope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hub.services.context import Context
from hub.services.info_requests.mails import local_time
from hub.services.links.access import (
    Grant,
    audit_link,
    audit_look,
    count_unusable,
    find_link,
    granted,
    session_state_of,
    state_of,
)
from hub.store.db import READ_ONLY
from hub.store.models import Agency


@dataclass(frozen=True)
class Landing:
    """What the landing page may show: nothing about the people."""

    state: str  # ok | unusable | answered | locked | closed
    ref: str | None = None
    agency: str | None = None
    due: str | None = None
    fingerprint: str | None = None
    kid: str | None = None


UNUSABLE = Landing("unusable")


async def landing(ctx: Context, token: str, client: str) -> Landing:
    """GET of a link: changes nothing (mail scanners pre-fetch links), audits the look.

    The lookup only reads (no write lock on SQLite). An unusable token is counted, not
    audited, so every unusable token takes the same path and guessing writes nothing;
    a look at a link that exists and works is audited after, by the group writer."""
    now = ctx.clock.now()
    async with ctx.sessions(**READ_ONLY) as session, session.begin():
        found = await find_link(session, ctx, token)
        state = state_of(*found, now) if found else "unusable"
        if state == "unusable" or found is None:
            count_unusable(ctx, "link.view.unusable", now)
            return UNUSABLE
        _, request = found
        agency = await session.get(Agency, request.agency_id)
        seen = Landing(
            state,
            request.ref,
            agency.name if agency else None,
            local_time(request.due_at, ctx),
            request.signature_digest,
            request.signature_kid,
        )
    await audit_look(ctx, now, f"link.view.{state}", seen.ref or "", client)
    return seen


async def view(ctx: Context, grant: Grant, client: str) -> dict[str, Any]:
    """The people and questions in scope, for a browser that proved the mailbox."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        link, request = await granted(session, grant)
        state = session_state_of(link, request, now)
        await audit_link(session, now, f"request.view.{state}", request.ref or "", client)
        if state != "ok":
            return {"state": state, "ref": request.ref}
        envelope = json.loads(ctx.sealer.open(request.document_sealed))
        agency = await session.get(Agency, request.agency_id)
        document = envelope["document"]
        return {
            "state": "ok",
            "ref": request.ref,
            "agency": agency.name if agency else "",
            "due": local_time(request.due_at, ctx),
            "lawful_basis": document["lawful_basis"],
            "persons": document["persons"],
            "questions": document["questions"],
            "fingerprint": request.signature_digest,
        }
