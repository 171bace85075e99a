"""Fresh links, mailed to the agency's registered mailboxes only: one its holder asks
for when a link has expired (:func:`renew`), and one the co-ordinator sends for the
same request and reference when a link was locked, used up or lost (:func:`reissue`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain import requests as rq
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.info_requests.capabilities import link_tokens
from hub.services.info_requests.errors import RequestError
from hub.services.info_requests.mails import request_mails
from hub.services.info_requests.views import find_request
from hub.services.links.access import audit_link, count_unusable, find_link
from hub.store.models import Agency, Case, InfoRequest, RequestLink

RENEWED = "Here is a fresh link: the earlier one expired."
REISSUED = "Here is a new link for this request: the earlier link no longer works."


async def _mint_and_mail(
    session: AsyncSession, ctx: Context, request: InfoRequest, now: datetime, reminder: str
) -> None:
    """Revoke every live link of ``request``, mint a new one (unlocked, no code, no
    tries) and queue the request mail with it: references and the link, no names."""
    await session.execute(
        update(RequestLink)
        .where(RequestLink.request_id == request.id, RequestLink.revoked_at.is_(None))
        .values(revoked_at=now)
    )
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
        ctx, request, agency, case_ref or "", new_token, envelope, reminder=reminder
    ):
        await outbox.enqueue(session, ctx, notice)


async def renew(ctx: Context, token: str, client: str) -> None:
    """An expired link's holder asks for a fresh one: it goes to the registered mailbox
    only. The answer is the same whatever the token was, so this reveals nothing (and a
    refusal is counted per minute, not audited: it names no request)."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        found = await find_link(session, ctx, token, lock=True)
        if found is None or not rq.link_renewable(
            request_state=found[1].state,
            expires_at=found[0].expires_at,
            revoked_at=found[0].revoked_at,
            locked_at=found[0].locked_at,
            now=now,
        ):
            count_unusable(ctx, "link.renew.refused", now)
            return
        _, request = found
        await _mint_and_mail(session, ctx, request, now, RENEWED)
        await audit_link(session, now, "link.renew", request.ref or "", client)


async def reissue(ctx: Context, ident: str, actor: str) -> str:
    """The co-ordinator sends request ``ident`` (id or reference) a new link: the same
    request and reference, its earlier links revoked (so locked, used-up and forwarded
    ones stop working, and sessions opened with them end), the new one unlocked with
    every code and try available, mailed to the agency's registered mailboxes. The due
    time and the signed document stay as they were. Returns the reference;
    :class:`RequestError` when the request is answered, withdrawn or a draft."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        request = await find_request(session, ident)
        try:
            request.state = rq.transition(request.state, rq.RequestEvent.REISSUE).value
        except rq.InvalidTransition as exc:
            raise RequestError(str(exc)) from None
        request.closed_at = None  # an expired request is open again
        revoked = await session.scalar(
            select(RequestLink.id)
            .where(RequestLink.request_id == request.id, RequestLink.revoked_at.is_(None))
            .limit(1)
        )
        await _mint_and_mail(session, ctx, request, now, REISSUED)
        assert request.ref is not None
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="request.reissue",
            object_ref=request.ref,
            detail={"had_live_link": revoked is not None},
        )
        return request.ref
