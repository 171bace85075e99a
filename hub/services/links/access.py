"""How a link's holder reaches a request: the token looked up with the same work for
every token, the state the domain's link rule gives it, the grant a proved code earns,
and the audit of every attempt on a link that exists and still works (with the
client's address). Attempts with an unusable token (unknown, expired, revoked, closed)
read no personal data: they are counted per minute (:func:`count_unusable`), never
written to the audit chain, so guessing costs the hub no writes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.requests import LinkState, link_state, session_state
from hub.services import audit
from hub.services.context import Context
from hub.services.info_requests.capabilities import token_services
from hub.store.models import InfoRequest, RequestLink

# The actor named in the audit trail for everything done through a link.
AGENCY_ACTOR = "agency-link"


@dataclass(frozen=True)
class Grant:
    """Proof that the browser holds the link *and* the registered mailbox."""

    request_id: int
    link_id: int


async def audit_link(
    session: AsyncSession, now: datetime, action: str, ref: str, client: str, **detail: Any
) -> None:
    """Every look, code and answer through a link is audited, with the client's address."""
    await audit.record(
        session,
        at=now,
        actor=AGENCY_ACTOR,
        action=action,
        object_ref=ref,
        detail={"client": client, **detail},
    )


async def audit_look(ctx: Context, now: datetime, action: str, ref: str, client: str) -> None:
    """Audit a look through a link outside any transaction of the caller's: through the
    group writer (:mod:`hub.services.audit_writer`), committed when this returns."""
    await ctx.audit_writer.record(
        at=now, actor=AGENCY_ACTOR, action=action, object_ref=ref, detail={"client": client}
    )


def count_unusable(ctx: Context, action: str, now: datetime) -> None:
    """Count an attempt with an unusable token: a line a minute in the log, no audit row.
    The same for every unusable token, so the count reveals nothing to its sender."""
    ctx.attempts.add(action, now)


async def find_link(
    session: AsyncSession, ctx: Context, token: str, *, lock: bool = False
) -> tuple[RequestLink, InfoRequest] | None:
    """The link and request for a token, or None. The same work for every token: a
    keyed hash and one indexed query, whether the token exists or not.

    ``lock`` takes the rows for update (PostgreSQL), so that counters such as wrong-code
    tries cannot be raced past their limit by guesses sent in parallel; SQLite's
    ``BEGIN IMMEDIATE`` already serialises every writer."""
    hashes = []
    for svc in token_services(ctx):  # the same number of hashes for any token
        try:
            hashes.append(svc.hash_token(token))
        except Exception:  # noqa: BLE001 - malformed tokens take the same path as unknown
            hashes.append(
                hashlib.sha256(b"malformed:" + token.encode(errors="replace")).hexdigest()
            )
    query = (
        select(RequestLink, InfoRequest)
        .join(InfoRequest, InfoRequest.id == RequestLink.request_id)
        .where(RequestLink.token_hash.in_(hashes))
    )
    if lock and ctx.dialect == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


def state_of(link: RequestLink, request: InfoRequest, now: datetime) -> LinkState:
    """The domain's link rule over this link and request at ``now``."""
    return link_state(
        request_state=request.state,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        locked_at=link.locked_at,
        now=now,
    )


def session_state_of(link: RequestLink, request: InfoRequest, now: datetime) -> LinkState:
    """What a signed-in session on this link may do at ``now``: a lock (wrong codes sent
    from elsewhere) does not end it; revocation and expiry do."""
    return session_state(
        request_state=request.state,
        expires_at=link.expires_at,
        revoked_at=link.revoked_at,
        now=now,
    )


async def granted(session: AsyncSession, grant: Grant) -> tuple[RequestLink, InfoRequest]:
    """The link and request a grant names; PermissionError if they do not belong together."""
    link = await session.get(RequestLink, grant.link_id)
    request = await session.get(InfoRequest, grant.request_id)
    if link is None or request is None or link.request_id != request.id:
        raise PermissionError("session does not match a request")
    return link, request
