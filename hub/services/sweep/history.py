"""What the sweep has sent, for staff and for tests: each ledger step with its mail's
recipient and delivery."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from hub.services.context import Context
from hub.services.timefmt import iso_z
from hub.store.models import AlertStep, OutboxMessage


async def alerts_sent(ctx: Context) -> list[dict[str, Any]]:
    """Every step the sweep sent, one entry per recipient, with its delivery time."""
    async with ctx.sessions() as session, session.begin():
        steps = (
            await session.scalars(
                select(AlertStep).where(AlertStep.outcome == "sent").order_by(AlertStep.id)
            )
        ).all()
        mails = (
            await session.execute(
                select(
                    OutboxMessage.dedupe_key,
                    OutboxMessage.sent_at,
                    OutboxMessage.state,
                    OutboxMessage.recipient_sealed,
                ).where(OutboxMessage.dedupe_key.like("step:%"))
            )
        ).all()
    by_prefix: dict[str, list[Any]] = defaultdict(list)
    for key, sent_at, state, recipient in mails:
        by_prefix[key.rsplit(":", 1)[0]].append((sent_at, state, recipient))
    return [
        {
            "kind": s.kind,
            "subject": s.subject,
            "subject_ref": s.subject_ref,
            "step": s.step,
            "recipient": ctx.sealer.open(recipient).decode(),
            "due_at": iso_z(s.due_at),
            "queued_at": iso_z(s.done_at),
            "sent_at": iso_z(sent_at),
            "delivery": state,
        }
        for s in steps
        for sent_at, state, recipient in by_prefix.get(f"step:{s.subject}:{s.step}", [])
    ]
