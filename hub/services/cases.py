"""Reading cases and quarantined mail for staff: decrypted, authorised, audited.

Every read of personal data writes an audit event naming the actor (STYLE.md, DESIGN.md
"No one let in"). The CLI passes the operating-system user, or ``--actor``.
The JSON shapes are published in ``schemas/case.schema.json`` and
``schemas/quarantine-entry.schema.json``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.services import audit
from hub.services.context import Context
from hub.services.timefmt import iso_z
from hub.store.models import Case, InboundMessage, Person


class NotFound(Exception):
    """No record with that reference."""


def _person(sealed: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": sealed.get("name"),
        "date_of_birth": sealed.get("date_of_birth"),
        "gender": sealed.get("gender"),
        "address": sealed.get("address"),
        "phone": sealed.get("phone"),
        "details": sealed.get("details", {}),
    }


async def _cases_json(ctx: Context, where: Any = None) -> list[dict[str, Any]]:
    """Cases (all, or those matching ``where``) in the published JSON shape, opened."""
    earlier = aliased(Case)
    async with ctx.sessions() as session, session.begin():
        query = (
            select(Case, earlier.ref)
            .outerjoin(earlier, earlier.id == Case.repeat_of_id)
            .order_by(Case.id)
        )
        if where is not None:
            query = query.where(where)
        rows = (await session.execute(query)).all()
        people = await _people(session, [c.id for c, _ in rows])
        return [_case_json(ctx, case, repeat_ref, people[case.id]) for case, repeat_ref in rows]


async def _people(session: AsyncSession, ids: list[int]) -> dict[int, list[Person]]:
    """Each case's people, in their order on the referral."""
    people: dict[int, list[Person]] = {i: [] for i in ids}
    if ids:
        for p in (
            await session.scalars(
                select(Person).where(Person.case_id.in_(ids)).order_by(Person.ordinal)
            )
        ).all():
            people[p.case_id].append(p)
    return people


def _case_json(
    ctx: Context, case: Case, repeat_ref: str | None, people: list[Person]
) -> dict[str, Any]:
    """One case as ``schemas/case.schema.json`` publishes it."""
    details = ctx.sealer.open_json(case.details_sealed)
    victim = perpetrator = None
    children = []
    for p in people:
        data = _person(ctx.sealer.open_json(p.sealed))
        if p.role == "victim":
            victim = data
        elif p.role == "perpetrator":
            perpetrator = data
        else:
            children.append(data)
    return {
        "ref": case.ref,
        "status": case.status,
        "received_at": iso_z(case.received_at),
        "force_reference": case.force_reference,
        "risk_level": case.risk_level,
        "division": case.division,
        "area": case.area,
        "source": case.source,
        "repeat_of": repeat_ref,
        "linked_cases": list(case.linked_refs or []),
        "coordinator": case.coordinator,
        "referrer": {
            "name": details["referrer"].get("name"),
            "email": details["referrer"].get("email"),
        },
        "forwarded_by": details.get("forwarded_by"),
        "sender": details.get("sender"),
        "victim": victim,
        "perpetrator": perpetrator,
        "children": children,
        "incident": details.get("incident"),
        "referral_reason": details.get("referral_reason"),
        "dash_score": details.get("dash_score"),
        "summary": details.get("summary"),
        "attachments": details.get("attachments", []),
        "problems": list(case.problems or []),
    }


async def list_cases(ctx: Context, actor: str) -> list[dict[str, Any]]:
    """Every case, opened for ``actor`` (audited)."""
    cases = await _cases_json(ctx)
    async with ctx.sessions() as session, session.begin():
        await audit.record(
            session,
            at=ctx.clock.now(),
            actor=actor,
            action="cases.list",
            object_ref="cases",
            detail={"count": len(cases)},
        )
    return cases


async def show_case(ctx: Context, ref: str, actor: str) -> dict[str, Any]:
    """One case, opened for ``actor`` (audited, a miss too); :class:`NotFound` if none."""
    found = await _cases_json(ctx, Case.ref == ref)
    async with ctx.sessions() as session, session.begin():
        await audit.record(
            session,
            at=ctx.clock.now(),
            actor=actor,
            action="cases.show" if found else "cases.show.not-found",
            object_ref=ref[:200],
        )
    if not found:
        raise NotFound(f"no case {ref}")
    return found[0]


async def list_inbound(ctx: Context, outcome: str, actor: str) -> list[dict[str, Any]]:
    """Quarantined, machine or duplicate mail, decrypted for staff review."""
    async with ctx.sessions() as session, session.begin():
        rows = (
            await session.scalars(
                select(InboundMessage)
                .where(InboundMessage.outcome == outcome)
                .order_by(InboundMessage.id)
            )
        ).all()
        out = []
        for row in rows:
            meta = ctx.sealer.open_json(row.meta_sealed)
            out.append(
                {
                    "id": row.id,
                    "message_id": meta.get("message_id"),
                    "sender": meta.get("sender"),
                    "subject": meta.get("subject"),
                    "reason": row.reason,
                    "received_at": iso_z(row.received_at),
                    "size": row.size,
                }
            )
        await audit.record(
            session,
            at=ctx.clock.now(),
            actor=actor,
            action=f"inbound.list.{outcome}",
            object_ref="inbound",
            detail={"count": len(out)},
        )
        return out


async def counts(ctx: Context) -> dict[str, int]:
    """How many inbound messages ended in each outcome (no personal data: not audited)."""
    async with ctx.sessions() as session, session.begin():
        rows = await session.execute(
            select(InboundMessage.outcome, func.count()).group_by(InboundMessage.outcome)
        )
        return {outcome: n for outcome, n in rows.all()}
