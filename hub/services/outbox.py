"""The durable outbox: mail is a row first, a delivery second.

A notice becomes a row in the same transaction as the decision behind it, with a unique
dedupe key (so deciding twice queues once) and a Message-ID fixed at that moment (so the
rare resend after a crash between the server's "250" and our commit is recognisable to
any receiving system as the same message). Delivery claims rows with a lease: a sender
that dies mid-way loses its claim when the lease runs out and another takes over.
"""

from __future__ import annotations

import logging
import secrets
import socket
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.notices import Notice
from hub.domain.retry import next_attempt
from hub.mail.outgoing import build_message
from hub.ports import Envelope, MailSender, SendResult, SessionRefused
from hub.services import parked
from hub.services.context import Context
from hub.store.models import HubState, OutboxMessage, table_of

log = logging.getLogger("hub.outbox")
# A database outage is nobody's message's fault: it goes up to the loop, never parks.
UNAVAILABLE = (OperationalError, DBAPIError)
# The result for a message the sender never reached (released for a later try).
NOT_ATTEMPTED = SendResult(False, None, "not attempted")
# hub_state's key while the server refuses the hub (its value: since when).
PAUSE_KEY = "outbox.paused"


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
    """Take up to ``limit`` due rows under a lease and a fresh claim token, in one short
    transaction; only this claim's token settles them."""
    now = ctx.clock.now()
    lease = now + timedelta(seconds=ctx.settings.outbox.lease_seconds)
    token = secrets.token_hex(16)
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
            row.claim_token = token
            row.attempts += 1
        return rows


async def deliver_due(ctx: Context, sender: MailSender, *, batch: int = 50) -> int:
    """Send what is due now, batch by batch, until nothing is due. Returns mails sent.

    Each message is settled (its own commit) as soon as the server answers it, so a
    crash can resend at most the one message in flight, with its original Message-ID.
    A row that fails unexpectedly is parked (stage ``outbox``) and the rest go on; a
    server that refuses the hub itself pauses delivery (:func:`_pause`).
    """
    sent = 0
    while True:
        rows = await _claim(ctx, batch)
        if not rows:
            break
        count, go_on = await _deliver_batch(ctx, sender, rows)
        sent += count
        if not go_on:
            break
    if sent:
        await _end_pause(ctx)
    return sent


async def _deliver_batch(
    ctx: Context, sender: MailSender, rows: list[OutboxMessage]
) -> tuple[int, bool]:
    """Hand one claimed batch to the sender: (mails sent, whether to claim more)."""
    by_id = {row.id: row for row in rows}
    envelopes = await _envelopes(ctx, rows)
    settled: dict[int, SendResult] = {}

    async def settle(envelope: Envelope, result: SendResult) -> None:
        await _settle(ctx, by_id[envelope.outbox_id], result)
        settled[envelope.outbox_id] = result

    try:
        await sender.send_many(envelopes, settle)
    except SessionRefused as exc:
        await _pause(ctx, [r for r in rows if r.id not in settled], exc)
        return sum(r.ok for r in settled.values()), False
    except UNAVAILABLE:
        raise
    except Exception as exc:  # noqa: BLE001 - park the message in flight, release the rest
        unsent = [e for e in envelopes if e.outbox_id not in settled]
        await _park_row(ctx, by_id[unsent[0].outbox_id], exc)
        settled[unsent[0].outbox_id] = SendResult(False, None, "parked")
    sent = sum(r.ok for r in settled.values())
    if len(settled) < len(envelopes) or any(r.temporary for r in settled.values()):
        # The server is struggling: release what it never saw and let backoff decide.
        for envelope in envelopes:
            if envelope.outbox_id not in settled:
                await _settle(ctx, by_id[envelope.outbox_id], NOT_ATTEMPTED)
        return sent, False
    return sent, True


async def _envelopes(ctx: Context, rows: list[OutboxMessage]) -> list[Envelope]:
    """The rows opened for the wire; a row that cannot be opened is parked."""
    envelopes = []
    for row in rows:
        try:
            envelopes.append(
                Envelope(
                    outbox_id=row.id,
                    sender=ctx.settings.smtp.from_address,
                    recipient=ctx.sealer.open(row.recipient_sealed).decode(),
                    message=ctx.sealer.open(row.message_sealed),
                )
            )
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
            await _park_row(ctx, row, exc)
    return envelopes


def _held(row: OutboxMessage) -> Any:
    """Only the latest claim on a row may change it (a sender that outlived its lease
    has lost the row to another and must not overwrite what that one did)."""
    return (
        (OutboxMessage.id == row.id)
        & (OutboxMessage.state == "sending")
        & (OutboxMessage.claim_token == row.claim_token)
    )


async def _park_row(ctx: Context, row: OutboxMessage, exc: Exception) -> None:
    """Take a row out of delivery and park it; ``parked retry`` puts it back. A parked
    alert that fails is parked without a new alert: no loops."""
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(_held(row))
            .values(state="parked", lease_until=None, claim_token=None, last_error="parked")
        )
    alert = row.kind != "alert:parked"
    await parked.park(ctx, "outbox", f"outbox:{row.id}", exc, None, alert=alert)


async def _settle(ctx: Context, row: OutboxMessage, result: SendResult) -> None:
    """Record one message's fate in its own transaction, if this claim still holds it."""
    now = ctx.clock.now()
    values = _fate(ctx, row, result, now)
    async with ctx.sessions() as session, session.begin():
        done = await session.execute(
            update(OutboxMessage).where(_held(row)).values(**values, claim_token=None)
        )
        if cast(CursorResult[Any], done).rowcount == 0:
            log.warning("event=outbox.claim_lost id=%s kind=%s", row.id, row.kind)
            return
        _log_fate(row, result, values)
        # Never alert about a failed alert about a failure: no loops.
        if values["state"] == "failed" and not row.kind.startswith("alert:delivery-failed"):
            await _alert_failed(session, ctx, row)


def _fate(ctx: Context, row: OutboxMessage, result: SendResult, now: datetime) -> dict[str, Any]:
    """The row's new values: sent; pending again, with backoff, after a temporary
    failure within the give-up time; or failed (STYLE.md habit 5)."""
    cfg = ctx.settings.outbox
    if result.ok:
        return dict(
            state="sent",
            sent_at=now,
            server_reply=result.reply[:2000],
            lease_until=None,
            last_error=None,
        )
    if result.temporary and now - row.created_at < timedelta(hours=cfg.give_up_hours):
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
    return dict(
        state="failed", lease_until=None, last_error=f"{why}: {result.code} {result.reply}"[:2000]
    )


def _log_fate(row: OutboxMessage, result: SendResult, values: dict[str, Any]) -> None:
    """One line per settled message: sent, retried (temporary) or failed (permanent)."""
    if values["state"] == "sent":
        log.info("event=outbox.sent id=%s kind=%s attempts=%s", row.id, row.kind, row.attempts)
    elif values["state"] == "pending":
        log.warning(
            "event=outbox.retry id=%s kind=%s code=%s attempts=%s temporary=True",
            row.id,
            row.kind,
            result.code,
            row.attempts,
        )
    else:
        log.error(
            "event=outbox.failed id=%s kind=%s code=%s reason=%s temporary=False",
            row.id,
            row.kind,
            result.code,
            str(values["last_error"]).partition(":")[0],
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


async def _pause(ctx: Context, rows: list[OutboxMessage], exc: SessionRefused) -> None:
    """The server refused the hub itself (a 5xx at connect or login: a wrong password, a
    relay that does not know us): no message is at fault, so none fails. Every waiting
    message is held for ``[outbox] pause_seconds`` (the claimed ones without counting a
    try), and the team leaders are alerted once per pause, which ends at the next mail
    the server accepts."""
    now = ctx.clock.now()
    until = now + timedelta(seconds=ctx.settings.outbox.pause_seconds)
    reason = f"paused: {exc.code} {exc.reply}"[:2000]
    async with ctx.sessions() as session, session.begin():
        if await session.get(HubState, PAUSE_KEY) is None:
            session.add(HubState(key=PAUSE_KEY, value=now.isoformat(), updated_at=now))
            await _alert_paused(session, ctx, exc, now)
        for row in rows:
            await session.execute(
                update(OutboxMessage)
                .where(_held(row))
                .values(
                    state="pending",
                    attempts=OutboxMessage.attempts - 1,
                    lease_until=None,
                    claim_token=None,
                    next_attempt_at=until,
                    last_error=reason,
                )
            )
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at < until)
            .values(next_attempt_at=until)
        )
    log.error("event=outbox.paused code=%s until=%s temporary=False", exc.code, until.isoformat())


async def _end_pause(ctx: Context) -> None:
    """The server accepted mail again: a later refusal is a new pause, with its alert."""
    async with ctx.sessions() as session, session.begin():
        done = await session.execute(delete(HubState).where(HubState.key == PAUSE_KEY))
    if cast(CursorResult[Any], done).rowcount:
        log.info("event=outbox.resumed")


async def _alert_paused(
    session: AsyncSession, ctx: Context, exc: SessionRefused, now: datetime
) -> None:
    minutes = max(1, round(ctx.settings.outbox.pause_seconds / 60))
    for leader in ctx.settings.alerts.team_leaders:
        await enqueue(
            session,
            ctx,
            Notice(
                kind="alert:delivery-paused",
                recipient=leader,
                subject="[MARRAC] Outgoing mail is paused: the mail server refused the hub",
                body=(
                    f"The mail server refused the hub at connect or login ({exc.code}).\n"
                    "No message has failed: every message waits, and delivery is tried"
                    f" again every {minutes} minutes.\nCheck the [smtp] settings (host,"
                    " username, password) and the server's log.\n"
                ),
                dedupe_key=f"alert:delivery-paused:{now.isoformat()}:{recipient_tag(ctx, leader)}",
            ),
        )


async def requeue(ctx: Context, outbox_id: int) -> None:
    """Put a parked message back in the queue, due now (``parked retry``)."""
    async with ctx.sessions() as session, session.begin():
        done = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.state == "parked")
            .values(
                state="pending",
                next_attempt_at=ctx.clock.now(),
                lease_until=None,
                claim_token=None,
                last_error=None,
            )
        )
    if cast(CursorResult[Any], done).rowcount == 0:
        raise LookupError(f"no parked outgoing mail {outbox_id}")


async def state_of(ctx: Context, outbox_id: int) -> str | None:
    """A message's state (``sent``, ``pending`` ...), or None if there is no such row."""
    async with ctx.sessions() as session, session.begin():
        return await session.scalar(
            select(OutboxMessage.state).where(OutboxMessage.id == outbox_id)
        )
