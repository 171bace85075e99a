"""Withdrawing a request: its links stop working and the agency is told not to answer."""

from __future__ import annotations

from sqlalchemy import update

from hub.domain import requests as rq
from hub.domain.notices import Notice
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.info_requests.errors import RequestError
from hub.services.info_requests.views import find_request
from hub.store.models import Agency, RequestLink


async def withdraw(ctx: Context, ident: str, actor: str) -> str:
    """Withdraw request ``ident`` (id or reference), in one transaction; returns its
    reference. :class:`RequestError` if its state does not allow it."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        r = await find_request(session, ident)
        try:
            r.state = rq.transition(r.state, rq.RequestEvent.WITHDRAW).value
        except rq.InvalidTransition as exc:
            raise RequestError(str(exc)) from None
        r.closed_at = now
        r.next_action_at = None
        await session.execute(
            update(RequestLink)
            .where(RequestLink.request_id == r.id, RequestLink.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        agency = await session.get(Agency, r.agency_id)
        assert agency is not None and r.ref is not None
        for address in agency.emails:
            await outbox.enqueue(
                session,
                ctx,
                Notice(
                    kind="request-withdrawn",
                    recipient=address,
                    subject=f"MARRAC information request {r.ref} withdrawn",
                    body=f"Request {r.ref} has been withdrawn: please do not answer it.\n"
                    "Its link no longer works.\n",
                    dedupe_key=f"withdrawn:{r.id}:{outbox.recipient_tag(ctx, address)}",
                ),
            )
        await audit.record(
            session, at=now, actor=actor, action="request.withdraw", object_ref=r.ref
        )
        return r.ref
