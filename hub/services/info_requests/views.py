"""The staff side's look at requests: the list, one request in full (its signed document
and answers opened, audited), and the summary both share."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain import requests as rq
from hub.services import audit
from hub.services.context import Context
from hub.services.info_requests.answers import open_answer
from hub.services.info_requests.errors import NotFound
from hub.services.timefmt import iso_z
from hub.store.models import Agency, Answer, Case, InfoRequest


async def list_requests(
    ctx: Context, actor: str, case_ref: str | None = None
) -> list[dict[str, Any]]:
    """Every request (or one case's), oldest first, with its status at ``now``."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        query = (
            select(InfoRequest, Case.ref, Agency.slug)
            .join(Case, Case.id == InfoRequest.case_id)
            .join(Agency, Agency.id == InfoRequest.agency_id)
            .order_by(InfoRequest.id)
        )
        if case_ref:
            if await session.scalar(select(Case.id).where(Case.ref == case_ref)) is None:
                raise NotFound(f"no case {case_ref}")
            query = query.where(Case.ref == case_ref)
        rows = (await session.execute(query)).all()
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="requests.list",
            object_ref=case_ref or "requests",
            detail={"count": len(rows)},
        )
    return [summary(r, cref, slug, now) for r, cref, slug in rows]


def summary(r: InfoRequest, case_ref: str | None, slug: str, now: datetime) -> dict[str, Any]:
    """One request as the staff see it: ``status`` is its state, or ``overdue``."""
    status = r.state
    if rq.is_overdue(r, now):
        status = "overdue"
    return {
        "id": r.id,
        "ref": r.ref,
        "case_ref": case_ref,
        "agency": slug,
        "status": status,
        "state": r.state,
        "urgency": r.urgency,
        "sent_at": iso_z(r.sent_at),
        "due_at": iso_z(r.due_at),
        "opened_at": iso_z(r.opened_at),
        "answered_at": iso_z(r.answered_at),
        "closed_at": iso_z(r.closed_at),
        "signature": {"kid": r.signature_kid, "fingerprint": r.signature_digest},
    }


async def find_request(session: AsyncSession, ident: str) -> InfoRequest:
    """The request with id or reference ``ident``; :class:`NotFound` otherwise."""
    query = select(InfoRequest)
    query = (
        query.where(InfoRequest.id == int(ident))
        if ident.isdigit()
        else query.where(InfoRequest.ref == ident)
    )
    found = await session.scalar(query)
    if found is None:
        raise NotFound(f"no request {ident}")
    return found


async def case_and_agency(session: AsyncSession, r: InfoRequest) -> tuple[str | None, str]:
    """The request's case reference and agency slug."""
    case_ref = await session.scalar(select(Case.ref).where(Case.id == r.case_id))
    slug = await session.scalar(select(Agency.slug).where(Agency.id == r.agency_id))
    return case_ref, slug or ""


async def answers_of(session: AsyncSession, r: InfoRequest) -> list[Answer]:
    """The request's answers, in the order they arrived."""
    query = select(Answer).where(Answer.request_id == r.id).order_by(Answer.id)
    return list((await session.scalars(query)).all())


async def show_request(ctx: Context, ident: str, actor: str) -> dict[str, Any]:
    """One request with its document and answers decrypted (audited)."""
    assert ctx.ring is not None
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        r = await find_request(session, ident)
        case_ref, slug = await case_and_agency(session, r)
        answers = await answers_of(session, r)
        out = summary(r, case_ref, slug, now)
        out["envelope"] = json.loads(ctx.sealer.open(r.document_sealed))
        out["answers"] = [
            {
                "channel": a.channel,
                "kind": a.kind,
                "received_at": iso_z(a.received_at),
                "content": open_answer(ctx, a),
            }
            for a in answers
        ]
        await audit.record(
            session, at=now, actor=actor, action="request.show", object_ref=r.ref or str(r.id)
        )
    return out
