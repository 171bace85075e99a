"""The audit trail: an append-only keyed hash chain over every access to personal data.

Each event's link is an HMAC (:mod:`hub.crypto.chain`, a key kept in the key directory,
not the database) over its content and the previous event's link, so deleting or editing
a row breaks the chain at that point, and someone who can write to the database but does
not hold the key cannot recompute the links after it. ``marrac-hub audit verify`` walks
the chain; ``marrac-hub audit checkpoint`` signs its head with the hub's Ed25519 key
(:mod:`hub.services.audit_checkpoints`) so an auditor can keep it and check it offline.
Events carry references and actions only, never the personal data itself.

Every session the hub opens (``open_context``) carries the chain key in its ``info``
(:func:`attach`), so the many use cases that record events need not pass it along.
Rows written before the chain was keyed are re-linked, after a check of the old plain
chain, by migration 0006 (see its docstring).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.crypto.chain import ChainKeys
from hub.crypto.keys import KeyFileError
from hub.store.db import advisory_xact_lock
from hub.store.models import AuditEvent, table_of

GENESIS = "0" * 64
_CHAIN = "audit_chain"  # the session.info key that holds the ChainKeys


def attach(sessions: async_sessionmaker[AsyncSession], chain: ChainKeys) -> None:
    """Give every session ``sessions`` makes the key :func:`record` links events with."""
    sessions.configure(info={_CHAIN: chain})


def _chain(session: AsyncSession) -> ChainKeys:
    chain = session.info.get(_CHAIN)
    if not isinstance(chain, ChainKeys):
        raise RuntimeError("this session has no audit chain key: open it through a Context")
    return chain


def message(prev: str, at: datetime, actor: str, action: str, ref: str, detail: Any) -> bytes:
    """The bytes an event's link covers: its content and the previous link."""
    body = json.dumps(
        [prev, at.isoformat(), actor, action, ref, detail], sort_keys=True, separators=(",", ":")
    )
    return body.encode()


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
    await record_timed(session, [(at, *event) for event in events])


#: One event with its own time: (at, actor, action, object_ref, detail).
TimedEvent = tuple[datetime, str, str, str, dict[str, Any]]


async def record_timed(session: AsyncSession, events: list[TimedEvent]) -> None:
    """Append events that each carry their own time (the batches of
    :mod:`hub.services.audit_writer`), in one statement, under the chain's lock."""
    if not events:
        return
    chain = _chain(session)
    kid = chain.key_id
    await advisory_xact_lock(session, "audit-chain")
    last = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev = last or GENESIS
    rows = []
    for at, actor, action, ref, detail in events:
        link = chain.link(kid, message(prev, at, actor, action, ref, detail))
        rows.append(
            dict(
                at=at,
                actor=actor,
                action=action,
                object_ref=ref,
                detail=detail,
                prev_hash=prev,
                hash=link,
                key_id=kid,
            )
        )
        prev = link
    await session.execute(insert(table_of(AuditEvent)), rows)


def _linked(chain: ChainKeys, prev: str, event: AuditEvent) -> bool:
    """Whether ``event`` follows ``prev`` and carries the keyed link of its content."""
    if event.prev_hash != prev or not event.key_id:
        return False  # an unkeyed row: inserted without the key, or left by a break
    body = message(prev, event.at, event.actor, event.action, event.object_ref, event.detail)
    try:
        return chain.matches(event.key_id, body, event.hash)
    except KeyFileError:
        return False  # names a key this hub never had


async def verify(session: AsyncSession) -> tuple[int, int | None]:
    """Walk the chain: (events checked, id of the first broken event or None)."""
    chain = _chain(session)
    prev = GENESIS
    count = 0
    result = await session.stream_scalars(select(AuditEvent).order_by(AuditEvent.id))
    async for event in result:
        count += 1
        if not _linked(chain, prev, event):
            return count, event.id
        prev = event.hash
    return count, None
