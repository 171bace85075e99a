"""Parked items: work that failed unexpectedly, kept so nothing is lost (Mailman's
"shunt" queue, in the database). Parking alerts the team leaders; ``parked retry``
puts the item back through its own stage:

- ``intake``: a referral mailbox message (payload: the raw mail), read again by intake;
- ``replies``: a replies mailbox message (payload: the raw mail), filed again as a reply;
- ``outbox``: an outgoing message (``outbox:<id>``), queued again and delivered;
- ``sweep``: a milestone or request (``milestone:<id>``, ``request:<id>``), swept again.

A loop that fails outside any item (:func:`alert_loop`) has nothing to park: it is
logged and alerted, once per loop, error and hour, and the loop starts again."""

from __future__ import annotations

import logging
import traceback

from sqlalchemy import select

from hub.domain import notices
from hub.services import audit, outbox
from hub.services.context import Context
from hub.store.models import ParkedItem

log = logging.getLogger("hub.parked")
STAGES = ("intake", "replies", "outbox", "sweep")


def describe(exc: BaseException) -> str:
    """The error's type and the frames that raised it: no message text, which could
    quote personal data from the item being processed."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames)
    )
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {where}"


async def park(
    ctx: Context,
    stage: str,
    item_key: str,
    exc: BaseException,
    payload: bytes | None,
    *,
    alert: bool = True,
) -> int:
    """Keep a failed item (payload sealed) with where and why it failed, alert the team
    leaders (unless ``alert`` is false: a failed alert must not beget another) and
    write the audit row, in one transaction."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
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
        for leader in ctx.settings.alerts.team_leaders if alert else ():
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


async def alert_loop(ctx: Context, loop: str, exc: BaseException) -> None:
    """Tell the team leaders that a loop failed outside any item and is starting again:
    one alert per loop, error type and hour, however often it fails meanwhile. Never
    raises: when the database is what failed, the log line is all there can be."""
    from hub.services.outages import alert_outage  # outages imports the outbox, as we do

    error = f"{type(exc).__module__}.{type(exc).__qualname__}"
    try:
        await alert_outage(
            ctx,
            key=f"loop:{loop}:{error}"[:120],
            what=f"the {loop} loop stopped on an unexpected error ({error})",
            effect="it starts again after a short wait; nothing was lost",
            action=f"see the hub's log (event={loop}.failed) and tell the maintainers",
        )
    except Exception as failed:  # noqa: BLE001 - the alert is best effort; the log stays
        log.warning("event=%s.alert_failed error=%s", loop, type(failed).__name__)
