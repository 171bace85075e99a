"""What a reading worker does with one message: the envelope first, the body only when
the sender may send one.

These are the jobs :mod:`hub.services.reading_pool` runs in worker processes, each with
a time and memory budget, so they take and return plain picklable values. Everything a
sender check needs is in the header section (``From:`` and the receiving server's
``Authentication-Results``), so that is read first, from at most
:data:`hub.mail.rawmail.MAX_HEADER_BYTES`; a message from a sender intake will
quarantine, or a machine's mail, is never read further.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hub.domain.referral import Referral
from hub.domain.senders import judge_sender
from hub.mail.envelope import ParsedMail
from hub.mail.mime import MAX_TEXT_CHARS
from hub.mail.parse import NO_FORM, parse_mail
from hub.mail.rawmail import MAX_HEADER_BYTES, header_block
from hub.mail.reply import recipient_addresses, reply_text


@dataclass(frozen=True)
class ReadPlan:
    """How to read one referral mail: the sender rules (``[intake]``), the text allowance,
    and whether the message is too large to read beyond its headers."""

    allowed_senders: tuple[str, ...]
    trusted_authserv_id: str
    max_text_chars: int = MAX_TEXT_CHARS
    oversized: bool = False


@dataclass(frozen=True)
class ReplyReading:
    """A reply as the replies mailbox files it: envelope, readable text, recipients."""

    parsed: ParsedMail
    text: str
    recipients: tuple[str, ...]


def read_envelope(raw: bytes) -> ParsedMail:
    """The envelope of a message from its header section alone (capped); the referral
    says no form was read."""
    return parse_mail(header_block(raw)[:MAX_HEADER_BYTES])


def read_referral(raw: bytes, plan: ReadPlan) -> ParsedMail:
    """A referral mail read as far as its sender earns: the envelope, then (for an
    allowed, authenticated sender's own mail) the whole message."""
    envelope = read_envelope(raw)
    if plan.oversized or envelope.machine_reason:
        return envelope
    verdict = judge_sender(
        envelope.sender, plan.allowed_senders, envelope.auth_results, plan.trusted_authserv_id
    )
    if not verdict.allowed:
        return envelope
    return parse_mail(raw, plan.max_text_chars)


def read_reply(raw: bytes, max_text_chars: int = MAX_TEXT_CHARS) -> ReplyReading:
    """A reply read whole (its sender is judged against the request it names, which
    only the hub's keys can find): envelope, text and recipient addresses."""
    return ReplyReading(
        parsed=parse_mail(raw, max_text_chars),
        text=reply_text(raw, max_text_chars),
        recipients=tuple(recipient_addresses(raw)),
    )


def unread(envelope: ParsedMail | None, problem: str) -> ParsedMail:
    """The mail a reading that ran out of budget leaves: its envelope (when that could be
    read) with no form, and the problem saying why, for a person to triage."""
    referral = Referral(source="none", parse_problems=(NO_FORM, problem))
    if envelope is None:
        return ParsedMail(message_id=None, sender=None, subject="", referral=referral)
    return replace(envelope, referral=referral)
