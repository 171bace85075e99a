"""Reading referral mail: raw RFC 5322 bytes in, a :class:`ParsedMail` out.

``parse_mail`` is pure (no I/O, no clock) and total (it never raises), so the intake
poller can call it on anything the mailbox holds. The replies mailbox reads agencies'
answers with :func:`reply_text` and :func:`recipient_addresses`; both mailboxes know a
message again by :func:`message_id_hash` and :func:`content_fingerprint`.
"""

from hub.mail.envelope import ParsedMail
from hub.mail.machine import is_machine_mail
from hub.mail.parse import parse_mail
from hub.mail.rawmail import (
    content_fingerprint,
    header_block,
    message_id_hash,
    normalise_message_id,
)
from hub.mail.reply import recipient_addresses, reply_text

__all__ = [
    "ParsedMail",
    "content_fingerprint",
    "header_block",
    "is_machine_mail",
    "message_id_hash",
    "normalise_message_id",
    "parse_mail",
    "recipient_addresses",
    "reply_text",
]
