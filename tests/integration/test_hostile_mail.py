"""86 malformed and hostile mails through real Dovecot into a running intake loop: each
ends as case, needs-triage, duplicate, quarantine or recorded machine mail, and the
poller is still running afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub.clock import SystemClock
from hub.runtime import intake_loop
from hub.services import parked
from hub.store.models import InboundMessage, OutboxMessage
from tests.support.hostile import corpus
from tests.support.hub import REFERRALS, wait_until
from tests.support.hubs import build_hub


async def test_every_hostile_mail_gets_an_outcome_and_the_poller_survives(
    mail_stack: Any, tmp_path: Path
) -> None:
    dovecot = mail_stack.dovecot
    mails = corpus()
    assert len(mails) >= 40
    hub = await build_hub(
        tmp_path,
        edges=mail_stack,
        clock=SystemClock(),
        intake={"poll_seconds": 1, "batch_size": 20},
    )
    ctx = hub.ctx
    wake = asyncio.Event()
    poller = asyncio.create_task(intake_loop(ctx, wake))
    try:
        # Given the poller running, when every hostile mail arrives one after another
        for mail in mails:
            dovecot.append(REFERRALS, mail.raw)

        async def all_recorded() -> bool:
            async with ctx.sessions() as s, s.begin():
                n = len((await s.scalars(select(InboundMessage.id))).all())
            return n + len(await parked.list_parked(ctx)) >= len(mails)

        await wait_until(all_recorded, timeout=120, what="every hostile mail recorded")
        # Then the poller is still alive
        assert not poller.done(), poller.exception() if poller.done() else None
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller

    assert await parked.list_parked(ctx) == [], "no hostile mail may crash intake"
    async with ctx.sessions() as s, s.begin():
        rows = (await s.scalars(select(InboundMessage).order_by(InboundMessage.uid))).all()
        acked = {
            int(key.split(":")[1])
            for key in (await s.scalars(select(OutboxMessage.dedupe_key))).all()
            if key.startswith("ack:")
        }
    await ctx.close()
    assert len(rows) == len(mails)
    wrong = [
        f"{mail.name}: got {row.outcome} ({row.reason}), expected {sorted(mail.outcomes)}"
        for mail, row in zip(mails, rows, strict=True)
        if row.outcome not in mail.outcomes
    ]
    assert not wrong, "\n".join(wrong)
    assert dovecot.count(REFERRALS, "INBOX") == 0
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    print("hostile outcomes:", counts)
    # Machine mail, duplicates and quarantined mail are never answered
    unanswerable = {r.id for r in rows if r.outcome in ("machine", "duplicate", "quarantine")}
    assert not acked & unanswerable
    assert acked, "the clean referrals in the corpus are acknowledged"
