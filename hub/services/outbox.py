"""The durable outbox: mail is a row first, a delivery second.

A notice becomes a row in the same transaction as the decision behind it, with a unique
dedupe key (so deciding twice queues once) and a Message-ID fixed at that moment (so the
rare resend after a crash between the server's "250" and our commit is recognisable to
any receiving system as the same message). Delivery claims rows with a lease: a sender
that dies mid-way loses its claim when the lease runs out and another takes over.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.notices import Notice
from hub.domain.retry import next_attempt
from hub.mail.outgoing import build_message
from hub.ports import Envelope, MailSender, SendResult
from hub.services.context import Context
from hub.store.models import OutboxMessage, table_of

log = logging.getLogger("hub.outbox")


def recipient_tag(ctx: Context, address: str) -> str:
    """A short keyed hash of an address, for dedupe keys (which are stored in clear)."""
    return ctx.indexer.blind("recipient", address.strip().lower())[:20]


def outbox_row(ctx: Context, notice: Notice) -> dict[str, Any]:
    """The values of one outbox row: the message is built and sealed now, once."""
    message_id = make_msgid(idstring="marrac", domain=_domain(ctx))
    now = ctx.clock.now()
    return dict(
        dedupe_key=notice.dedupe_key,
        kind=notice.kind,
        subject_ref=notice.subject_ref,
        message_id=message_id,
        recipient_sealed=ctx.sealer.seal(notice.recipient.encode()),
        message_sealed=ctx.sealer.seal(
            build_message(ctx.settings.smtp.from_address, notice, message_id, now)
        ),
        state="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        lease_until=None,
        sent_at=None,
        last_error=None,
        server_reply=None,
    )


def _domain(ctx: Context) -> str:
    return ctx.settings.smtp.from_address.rpartition("@")[2] or socket.getfqdn()


async def insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows; a row whose dedupe key exists already is skipped."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table_of(OutboxMessage)).on_conflict_do_nothing(index_elements=["dedupe_key"])
    await session.execute(stmt, rows)


async def enqueue(session: AsyncSession, ctx: Context, notice: Notice) -> None:
    """Queue one notice inside the caller's transaction (at most once per dedupe key)."""
    await insert_rows(session, [outbox_row(ctx, notice)])


async def _claim(ctx: Context, limit: int) -> list[OutboxMessage]:
    """Take up to ``limit`` due rows under a lease, in one short transaction."""
    now = ctx.clock.now()
    lease = now + timedelta(seconds=ctx.settings.outbox.lease_seconds)
    due = or_(
        (OutboxMessage.state == "pending") & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.state == "sending") & (OutboxMessage.lease_until < now),
    )
    async with ctx.sessions() as session, session.begin():
        query = select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(limit)
        if ctx.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list((await session.scalars(query)).all())
        for row in rows:
            row.state = "sending"
            row.lease_until = lease
            row.attempts += 1
        return rows


async def deliver_due(ctx: Context, sender: MailSender, *, batch: int = 50) -> int:
    """Send what is due now, batch by batch, until nothing is due. Returns mails sent.

    Each message is settled (its own commit) as soon as the server answers it, so a
    crash can resend at most the one message in flight, with its original Message-ID.
    """
    sent = 0
    while True:
        rows = await _claim(ctx, batch)
        if not rows:
            return sent
        by_id = {row.id: row for row in rows}
        envelopes = [
            Envelope(
                outbox_id=row.id,
                sender=ctx.settings.smtp.from_address,
                recipient=ctx.sealer.open(row.recipient_sealed).decode(),
                message=ctx.sealer.open(row.message_sealed),
            )
            for row in rows
        ]
        settled: list[SendResult] = []

        async def settle(
            envelope: Envelope,
            result: SendResult,
            settled: list[SendResult] = settled,
            by_id: dict[int, OutboxMessage] = by_id,
        ) -> None:
            settled.append(result)
            await _settle(ctx, by_id[envelope.outbox_id], result)

        await sender.send_many(envelopes, settle)
        sent += sum(r.ok for r in settled)
        if len(settled) < len(rows) or any(r.temporary for r in settled):
            # The server is struggling: release what it never saw and let backoff decide.
            unsent = [row for row in rows if row.id not in _ids(envelopes[: len(settled)])]
            for row in unsent:
                await _settle(ctx, row, SendResult(False, None, "not attempted"))
            return sent


def _ids(envelopes: list[Envelope]) -> set[int]:
    return {e.outbox_id for e in envelopes}


async def _settle(ctx: Context, row: OutboxMessage, result: SendResult) -> None:
    """Record one message's fate in its own transaction."""
    now = ctx.clock.now()
    values = _fate(ctx, row, result, now)
    async with ctx.sessions() as session, session.begin():
        # Only the lease holder settles: a row another process took over after the lease
        # ran out is not overwritten by this late sender.
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.state == "sending")
            .values(**values)
        )
        # Never alert about a failed alert about a failure: no loops.
        if values["state"] == "failed" and not row.kind.startswith("alert:delivery-failed"):
            await _alert_failed(session, ctx, row)


def _fate(ctx: Context, row: OutboxMessage, result: SendResult, now: datetime) -> dict[str, Any]:
    """The row's new values: sent; pending again, with backoff, after a temporary
    failure within the give-up time; or failed (STYLE.md habit 5)."""
    cfg = ctx.settings.outbox
    if result.ok:
        log.info("event=outbox.sent id=%s kind=%s attempts=%s", row.id, row.kind, row.attempts)
        return dict(
            state="sent",
            sent_at=now,
            server_reply=result.reply[:2000],
            lease_until=None,
            last_error=None,
        )
    if result.temporary and now - row.created_at < timedelta(hours=cfg.give_up_hours):
        log.warning(
            "event=outbox.retry id=%s kind=%s code=%s attempts=%s temporary=True",
            row.id,
            row.kind,
            result.code,
            row.attempts,
        )
        retry_at = next_attempt(
            row.attempts,
            now,
            cfg.backoff_first_seconds,
            cfg.backoff_max_seconds,
            ctx.rng.random(),
        )
        return dict(
            state="pending",
            lease_until=None,
            last_error=f"temporary: {result.code} {result.reply}"[:2000],
            next_attempt_at=retry_at,
        )
    why = "gave up after retries" if result.temporary else "permanent"
    log.error(
        "event=outbox.failed id=%s kind=%s code=%s reason=%s temporary=False",
        row.id,
        row.kind,
        result.code,
        why,
    )
    return dict(
        state="failed", lease_until=None, last_error=f"{why}: {result.code} {result.reply}"[:2000]
    )


async def _alert_failed(session: AsyncSession, ctx: Context, row: OutboxMessage) -> None:
    """Tell the team leaders that a mail could not be delivered."""
    for leader in ctx.settings.alerts.team_leaders:
        await enqueue(
            session,
            ctx,
            Notice(
                kind="alert:delivery-failed",
                recipient=leader,
                subject=f"[MARRAC] Mail could not be delivered ({row.kind})",
                body=(
                    f"Outgoing mail {row.id} ({row.kind}, case {row.subject_ref or '-'})"
                    " was refused or could not be delivered in time.\n"
                ),
                dedupe_key=f"alert:delivery-failed:{row.id}:{recipient_tag(ctx, leader)}",
                subject_ref=row.subject_ref,
            ),
        )
