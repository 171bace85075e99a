"""Reading referral mail: raw RFC 5322 bytes in, a :class:`ParsedMail` out.

``parse_mail`` is pure (no I/O, no clock) and total (it never raises), so the intake
poller can call it on anything the mailbox holds.
"""

from hub.mail.envelope import ParsedMail
from hub.mail.machine import is_machine_mail
from hub.mail.parse import parse_mail

__all__ = ["ParsedMail", "is_machine_mail", "parse_mail"]
