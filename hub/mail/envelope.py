"""The result of reading one raw email: its envelope facts and the referral inside it."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.domain.referral import Referral


@dataclass(frozen=True)
class ParsedMail:
    """Everything intake needs from a raw message, and nothing it must re-parse.

    ``machine_reason`` is set for auto-replies, out-of-office notices and bounces
    (RFC 3834 and friends): such mail never opens a case and is never answered.
    ``sender`` is the lower-cased address of ``From:`` (the first one), or ``None`` when
    there is no parseable one; ``auth_results`` holds every ``Authentication-Results``
    header value, in order, for :mod:`hub.domain.senders` to judge.
    """

    message_id: str | None
    sender: str | None
    subject: str
    referral: Referral
    machine_reason: str | None = None
    auth_results: tuple[str, ...] = ()
    # Addresses from Reply-To, kept for the record only (acknowledgements go to From and
    # to the referrer named in the form, never to an address only the mail supplied).
    reply_to: tuple[str, ...] = field(default_factory=tuple)
