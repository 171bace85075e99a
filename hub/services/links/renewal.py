"""A fresh link for an expired one, mailed to the agency's registered mailbox only."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from hub.domain.requests import link_renewable
from hub.services import outbox
from hub.services.context import Context
from hub.services.info_requests.capabilities import link_tokens
from hub.services.info_requests.mails import request_mails
from hub.services.links.access import audit_link, find_link
from hub.store.models import Agency, Case, RequestLink


async def renew(ctx: Context, token: str, client: str) -> None:
    """An expired link's holder asks for a fresh one: it goes to the registered mailbox
    only. The answer is the same whatever the token was, so this reveals nothing."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        found = await find_link(session, ctx, token, lock=True)
        if found is None or not link_renewable(
            request_state=found[1].state,
            expires_at=found[0].expires_at,
            revoked_at=found[0].revoked_at,
            locked_at=found[0].locked_at,
            now=now,
        ):
            await audit_link(session, now, "link.renew.refused", "link:unknown", client)
            return
        old, request = found
        old.revoked_at = now
        new_token, new_hash = link_tokens(ctx).new_link_token()
        session.add(
            RequestLink(
                request_id=request.id,
                token_hash=new_hash,
                created_at=now,
                expires_at=now + timedelta(days=ctx.settings.requests.link_days),
            )
        )
        agency = await session.get(Agency, request.agency_id)
        case_ref = await session.scalar(select(Case.ref).where(Case.id == request.case_id))
        envelope = json.loads(ctx.sealer.open(request.document_sealed))
        assert agency is not None
        for notice in request_mails(
            ctx,
            request,
            agency,
            case_ref or "",
            new_token,
            envelope,
            reminder="Here is a fresh link: the earlier one expired.",
        ):
            await outbox.enqueue(session, ctx, notice)
        await audit_link(session, now, "link.renew", request.ref or "", client)
