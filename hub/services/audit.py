"""The audit trail: an append-only hash chain over every access to personal data.

Each event's hash covers its content and the previous event's hash, so deleting or
editing a row breaks the chain at that point; ``marrac-hub audit verify`` walks it.
Events carry references and actions only, never the personal data itself.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.db import advisory_xact_lock
from hub.store.models import AuditEvent, table_of

GENESIS = "0" * 64


def _digest(prev: str, at: datetime, actor: str, action: str, ref: str, detail: Any) -> str:
    body = json.dumps(
        [prev, at.isoformat(), actor, action, ref, detail], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_ref: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event inside the caller's transaction."""
    await record_many(session, at, [(actor, action, object_ref, detail or {})])


async def record_many(
    session: AsyncSession, at: datetime, events: list[tuple[str, str, str, dict[str, Any]]]
) -> None:
    """Append several events (actor, action, object_ref, detail) in one statement: the
    chain is computed in memory under the same lock as :func:`record`."""
    if not events:
        return
    await advisory_xact_lock(session, "audit-chain")
    last = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev = last or GENESIS
    rows = []
    for actor, action, ref, detail in events:
        digest = _digest(prev, at, actor, action, ref, detail)
        rows.append(
            dict(
                at=at,
                actor=actor,
                action=action,
                object_ref=ref,
                detail=detail,
                prev_hash=prev,
                hash=digest,
            )
        )
        prev = digest
    await session.execute(insert(table_of(AuditEvent)), rows)


async def verify(session: AsyncSession) -> tuple[int, int | None]:
    """Walk the chain: (events checked, id of the first broken event or None)."""
    prev = GENESIS
    count = 0
    result = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id))
    async for event in result:
        count += 1
        expected = _digest(
            prev, event.at, event.actor, event.action, event.object_ref, event.detail
        )
        if event.prev_hash != prev or event.hash != expected:
            return count, event.id
        prev = event.hash
    return count, None
