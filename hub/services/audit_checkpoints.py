"""Signed checkpoints of the audit chain, for an auditor to keep and check offline.

A keyed chain (:mod:`hub.services.audit`) stops someone who can write to the database
without the key; a checkpoint also stops someone who holds the key, or who rolls the
whole database back. ``marrac-hub audit checkpoint`` verifies the chain and signs its
head (how many events, the last one's id and link) with the hub's Ed25519 key, as any
signed document: ``marrac-hub verify checkpoint.json`` checks the signature with no
database, and ``marrac-hub audit verify --checkpoint checkpoint.json`` checks that the
chain still holds exactly what the checkpoint saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.services import audit
from hub.services.context import Context
from hub.services.info_requests.signatures import sign
from hub.services.timefmt import iso_z
from hub.store.models import AuditEvent

CHECKPOINT_TYPE = "marrac-hub/audit-checkpoint"


class AuditChainBroken(Exception):
    """The chain does not verify, so no checkpoint of it may be signed."""


async def issue(ctx: Context, actor: str) -> dict[str, Any]:
    """Verify the chain and sign its head; the checkpoint itself is then audited."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        count, broken = await audit.verify(session)
        if broken is not None:
            raise AuditChainBroken(f"audit chain BROKEN at event {broken} ({count} checked)")
        head = (
            await session.execute(
                select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
            )
        ).first()
        last_id, link = (head.id, head.hash) if head else (0, audit.GENESIS)
        reference = f"AUDIT-{last_id}"
        document = {
            "type": CHECKPOINT_TYPE,
            "reference": reference,
            "events": count,
            "last_event": last_id,
            "head": link,
            "issued_at": iso_z(now),
        }
        envelope = sign(ctx, document)
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="audit.checkpoint",
            object_ref=reference,
            detail={"events": count, "head": link},
        )
    return envelope


async def compare(session: AsyncSession, checkpoint: Mapping[str, Any]) -> str | None:
    """Why the chain no longer holds what a (verified) checkpoint saw, or None."""
    if checkpoint.get("type") != CHECKPOINT_TYPE:
        return "not an audit checkpoint"
    last_id, head, events = (checkpoint.get(k) for k in ("last_event", "head", "events"))
    if not isinstance(last_id, int) or not isinstance(events, int):
        return "checkpoint without last_event and events counts"
    link = await session.scalar(select(AuditEvent.hash).where(AuditEvent.id == last_id))
    if last_id and link != head:
        return f"event {last_id} is not the one the checkpoint signed"
    count = await session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.id <= last_id)
    )
    if count != events:
        return f"{count} events up to {last_id}, the checkpoint signed {events}"
    return None
