"""The mail intake queues: acknowledgements to the police, alerts to the team leaders.

Each is an outbox row written in the same transaction as the decision behind it (STYLE.md
habit 1), with a dedupe key naming the message or case and a keyed tag of the recipient,
so that deciding twice queues once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.domain import notices
from hub.domain.senders import is_allowlisted
from hub.services import outbox
from hub.services.context import Context
from hub.services.intake_records import NewCase


def case_mail(ctx: Context, case: NewCase) -> list[dict[str, Any]]:
    """A new case's mail: the acknowledgements, then an alert to each team leader."""
    return _acknowledgements(ctx, case) + _new_case_alerts(ctx, case)


def _acknowledged(ctx: Context, case: NewCase) -> list[str]:
    """Who is told the referral arrived: the envelope sender (proved allowlisted) and
    the referrer the form names when that address is allowlisted too. The hub never
    mails an address that only the message's own text supplied."""
    allowed = ctx.settings.intake.allowed_senders
    recipients: list[str] = []
    for address in (case.message.parsed.sender, case.referral.referrer.email):
        if address and is_allowlisted(address, allowed):
            address = address.strip().lower()
            if address not in recipients:
                recipients.append(address)
    return recipients


def _acknowledgements(ctx: Context, case: NewCase) -> list[dict[str, Any]]:
    return [
        outbox.outbox_row(
            ctx,
            notices.acknowledgement(
                recipient=address,
                case_ref=case.case_ref,
                force_reference=case.referral.force_reference,
                needs_triage=case.needs_triage,
                received_at=case.now,
                tz=ctx.settings.hub.timezone,
                dedupe_key=f"ack:{case.inbound_id}:{outbox.recipient_tag(ctx, address)}",
                in_reply_to=case.message.parsed.message_id,
            ),
        )
        for address in _acknowledged(ctx, case)
    ]


def _new_case_alerts(ctx: Context, case: NewCase) -> list[dict[str, Any]]:
    referral, repeat_of = case.referral, case.repeat.repeat_of
    return [
        outbox.outbox_row(
            ctx,
            notices.new_case_alert(
                recipient=leader,
                case_ref=case.case_ref,
                risk_level=referral.risk_level,
                division=referral.division,
                area=referral.area,
                needs_triage=case.needs_triage,
                problems=case.decision.problems,
                repeat_of=repeat_of.ref if repeat_of else None,
                received_at=case.now,
                tz=ctx.settings.hub.timezone,
                dedupe_key=f"alert:new-case:{case.case_ref}:{outbox.recipient_tag(ctx, leader)}",
            ),
        )
        for leader in ctx.settings.alerts.team_leaders
    ]


def quarantine_alerts(
    ctx: Context, inbound_id: int, sender: str | None, reason: str, now: datetime
) -> list[dict[str, Any]]:
    """An alert to each team leader that a message was quarantined (the reason names
    the rule it failed, never the sender).

    Grouped: one alert per sender per hour (the dedupe key holds a keyed hash of the
    sender and the hour), so a flood of junk cannot flood team leaders; the daily
    digest counts every quarantined message."""
    sender_tag = ctx.indexer.blind("quarantine-sender", (sender or "").strip().lower())[:20]
    hour = now.astimezone(UTC).strftime("%Y%m%d%H")
    return [
        outbox.outbox_row(
            ctx,
            notices.quarantine_alert(
                recipient=leader,
                inbound_id=inbound_id,
                reason=reason,
                received_at=now,
                tz=ctx.settings.hub.timezone,
                dedupe_key=(
                    f"alert:quarantine:{sender_tag}:{hour}:{outbox.recipient_tag(ctx, leader)}"
                ),
            ),
        )
        for leader in ctx.settings.alerts.team_leaders
    ]
