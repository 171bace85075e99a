"""Reading the mailboxes' messages in the reading workers, never on the event loop.

Intake asks the workers to read each message as far as its sender earns
(:func:`hub.mail.reading.read_referral`: the envelope, then the body only for an
allowed sender's own mail); the replies mailbox asks for the whole reply. A message
whose reading runs over its time or memory budget is read again for its envelope alone
(the header section, capped), and comes back as a mail with no form and the reason as
its problem: intake then records it as needs-triage (or quarantine, by its sender),
never as a stalled loop or a parked batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hub.mail import ParsedMail, header_block
from hub.mail.rawmail import MAX_HEADER_BYTES
from hub.mail.reading import (
    ReadPlan,
    ReplyReading,
    read_envelope,
    read_referral,
    read_reply,
    unread,
)
from hub.services.context import Context
from hub.services.reading_pool import Overrun

log = logging.getLogger("hub.intake")


@dataclass(frozen=True)
class Reading:
    """One referral mail as read: what it holds, and whether it was too large to read."""

    parsed: ParsedMail
    oversized: bool


def _plan(ctx: Context, raw: bytes) -> tuple[bytes, ReadPlan]:
    """What the worker is sent: a message over ``max_message_bytes`` only as its headers."""
    intake = ctx.settings.intake
    oversized = len(raw) > intake.max_message_bytes
    plan = ReadPlan(
        allowed_senders=intake.allowed_senders,
        trusted_authserv_id=intake.trusted_authserv_id,
        max_text_chars=intake.max_text_chars,
        oversized=oversized,
    )
    return (header_block(raw)[:MAX_HEADER_BYTES] if oversized else raw), plan


async def read_referrals(ctx: Context, raws: list[bytes]) -> list[Reading]:
    """Each message read in the workers, in order; an overrun becomes a mail to triage."""
    jobs = [_plan(ctx, raw) for raw in raws]
    results = await ctx.reading.map(read_referral, jobs)
    parsed = await _settle_overruns(ctx, [raw for raw, _ in jobs], results)
    return [Reading(mail, plan.oversized) for mail, (_, plan) in zip(parsed, jobs, strict=True)]


async def read_replies(ctx: Context, raws: list[bytes]) -> list[ReplyReading]:
    """Each reply read whole in the workers; an overrun keeps its envelope and no text."""
    limit = ctx.settings.intake.max_text_chars
    results = await ctx.reading.map(read_reply, [(raw, limit) for raw in raws])
    replies = [result.parsed if isinstance(result, ReplyReading) else result for result in results]
    parsed = await _settle_overruns(ctx, raws, replies)
    return [
        result if isinstance(result, ReplyReading) else ReplyReading(mail, "", ())
        for result, mail in zip(results, parsed, strict=True)
    ]


async def _settle_overruns(
    ctx: Context, raws: list[bytes], results: list[object]
) -> list[ParsedMail]:
    """Every message's mail; an overrun replaced by the message's envelope (read again,
    headers only, within the same budget) with the overrun's reason as its problem."""
    overruns = [(raw, r) for raw, r in zip(raws, results, strict=True) if isinstance(r, Overrun)]
    envelopes = iter(await ctx.reading.map(read_envelope, [(raw,) for raw, _ in overruns]))
    settled: list[ParsedMail] = []
    for raw, result in zip(raws, results, strict=True):
        if isinstance(result, ParsedMail):
            settled.append(result)
            continue
        reason = result.reason if isinstance(result, Overrun) else "not read"
        envelope = next(envelopes)
        log.warning("event=intake.over_budget reason=%r size=%d", reason, len(raw))
        settled.append(unread(envelope if isinstance(envelope, ParsedMail) else None, reason))
    return settled
