"""Outages the hub lives through instead of exiting on (the web server out of file
descriptors, say): the team leaders hear of each one, once an hour at most.

The alert is a row in the outbox like every other notice, so it is sent when the outbox
can send, and its dedupe key (the outage's name and the hour) makes a flapping outage
one mail, not a flood.
"""

from __future__ import annotations

import logging

from hub.domain.notices import Notice
from hub.services.context import Context
from hub.services.outbox import enqueue, recipient_tag

log = logging.getLogger("hub.outages")


async def alert_outage(ctx: Context, *, key: str, what: str, effect: str, action: str) -> None:
    """Queue an alert to every team leader: ``what`` happened, its ``effect`` on the
    service and the ``action`` that helps; ``key`` names the outage in the dedupe key."""
    now = ctx.clock.now()
    hour = now.strftime("%Y-%m-%dT%H")
    body = f"The hub met an outage: {what}.\n\nEffect: {effect}\nWhat helps: {action}\n"
    async with ctx.sessions() as session, session.begin():
        for leader in ctx.settings.alerts.team_leaders:
            await enqueue(
                session,
                ctx,
                Notice(
                    kind="alert:outage",
                    recipient=leader,
                    subject=f"[MARRAC] Service degraded: {what}",
                    body=body,
                    dedupe_key=f"alert:outage:{key}:{hour}:{recipient_tag(ctx, leader)}",
                ),
            )
    log.info("event=outage.alerted key=%s", key)
