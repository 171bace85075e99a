"""The evidence pack of one request: everything that shows what happened to it, for a
complaint or an audit (each mail with the SMTP server's reply, each step of chasing,
each look and code through its link, each answer's time and digest)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.services import audit
from hub.services.context import Context
from hub.services.info_requests.views import answers_of, case_and_agency, find_request, summary
from hub.services.timefmt import iso_z
from hub.store.models import AlertStep, Answer, AuditEvent, InfoRequest, OutboxMessage


async def evidence(ctx: Context, ident: str, actor: str) -> dict[str, Any]:
    """Everything that shows what happened to a request: each mail with the SMTP
    server's reply (queue id included), each link look and code, the answers' times."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        r = await find_request(session, ident)
        case_ref, slug = await case_and_agency(session, r)
        mails = await _mails(session, r)
        events = await _events(session, r)
        steps = await _steps(session, r)
        answers = await answers_of(session, r)
        await audit.record(
            session, at=now, actor=actor, action="request.evidence", object_ref=r.ref or str(r.id)
        )
    return {
        "request": summary(r, case_ref, slug, now),
        "mails": [_mail(m) for m in mails],
        "steps": [_step(s) for s in steps],
        "events": [
            {"at": iso_z(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in events
        ],
        "answers": [_answer(a) for a in answers],
        "exported_at": iso_z(now),
    }


async def _mails(session: AsyncSession, r: InfoRequest) -> list[OutboxMessage]:
    """The request, its chasers, its withdrawal and its receipt, by their dedupe keys."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.dedupe_key.like(f"request:{r.id}:%")
            | OutboxMessage.dedupe_key.like(f"step:request:{r.id}:%")
            | OutboxMessage.dedupe_key.like(f"withdrawn:{r.id}:%")
            | OutboxMessage.dedupe_key.like(f"receipt:{r.id}:%")
        )
        .order_by(OutboxMessage.id)
    )
    return list((await session.scalars(query)).all())


async def _events(session: AsyncSession, r: InfoRequest) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.object_ref == r.ref).order_by(AuditEvent.id)
    return list((await session.scalars(query)).all())


async def _steps(session: AsyncSession, r: InfoRequest) -> list[AlertStep]:
    query = select(AlertStep).where(AlertStep.subject == f"request:{r.id}").order_by(AlertStep.id)
    return list((await session.scalars(query)).all())


def _mail(m: OutboxMessage) -> dict[str, Any]:
    return {
        "kind": m.kind,
        "message_id": m.message_id,
        "state": m.state,
        "attempts": m.attempts,
        "queued_at": iso_z(m.created_at),
        "sent_at": iso_z(m.sent_at),
        "server_reply": m.server_reply,
        "last_error": m.last_error,
    }


def _step(s: AlertStep) -> dict[str, Any]:
    return {
        "step": s.step,
        "due_at": iso_z(s.due_at),
        "done_at": iso_z(s.done_at),
        "outcome": s.outcome,
    }


def _answer(a: Answer) -> dict[str, Any]:
    return {
        "channel": a.channel,
        "kind": a.kind,
        "received_at": iso_z(a.received_at),
        "sha256": a.receipt_digest,
    }
