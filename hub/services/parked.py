"""Parked items: work that failed unexpectedly, kept so nothing is lost (Mailman's
"shunt" queue, in the database). Parking alerts the team leaders; ``parked retry``
puts the item back through its stage."""

from __future__ import annotations

import logging
import traceback

from sqlalchemy import select

from hub.domain import notices
from hub.services import audit, outbox
from hub.services.context import Context
from hub.store.models import ParkedItem

log = logging.getLogger("hub.parked")


def describe(exc: BaseException) -> str:
    """The error's type and the frames that raised it: no message text, which could
    quote personal data from the item being processed."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames)
    )
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {where}"


async def park(
    ctx: Context, stage: str, item_key: str, exc: BaseException, payload: bytes | None
) -> int:
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        row = ParkedItem(
            stage=stage,
            item_key=item_key[:400],
            error=describe(exc),
            payload_sealed=ctx.sealer.seal(payload) if payload is not None else None,
            created_at=now,
            state="parked",
        )
        session.add(row)
        await session.flush()
        for leader in ctx.settings.alerts.team_leaders:
            await outbox.enqueue(
                session,
                ctx,
                notices.parked_alert(
                    recipient=leader,
                    parked_id=row.id,
                    stage=stage,
                    received_at=now,
                    tz=ctx.settings.hub.timezone,
                    dedupe_key=f"alert:parked:{row.id}:{outbox.recipient_tag(ctx, leader)}",
                ),
            )
        await audit.record(
            session,
            at=now,
            actor=f"system:{stage}",
            action="parked",
            object_ref=f"parked:{row.id}",
            detail={"stage": stage},
        )
    log.error("event=%s.parked parked=%s error=%s", stage, row.id, row.error)
    return row.id


async def list_parked(ctx: Context, include_done: bool = False) -> list[dict[str, object]]:
    async with ctx.sessions() as session, session.begin():
        query = select(ParkedItem).order_by(ParkedItem.id)
        if not include_done:
            query = query.where(ParkedItem.state == "parked")
        rows = (await session.scalars(query)).all()
        return [
            {
                "id": r.id,
                "stage": r.stage,
                "item": r.item_key,
                "error": r.error,
                "state": r.state,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]


async def take_for_retry(ctx: Context, parked_id: int, actor: str) -> tuple[str, str, bytes | None]:
    """Mark an item retried and hand back (stage, item key, payload) to replay."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        row = await session.get(ParkedItem, parked_id)
        if row is None or row.state != "parked":
            raise LookupError(f"no parked item {parked_id} waiting for a retry")
        row.state = "retried"
        row.retried_at = now
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="parked.retry",
            object_ref=f"parked:{row.id}",
            detail={"stage": row.stage},
        )
        payload = ctx.sealer.open(row.payload_sealed) if row.payload_sealed else None
        return row.stage, row.item_key, payload
