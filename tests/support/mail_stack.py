"""The object the ``mail_stack`` fixture yields (importable for type hints)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.dovecot import DovecotServer
from tests.support.smtp_server import SmtpServer

__all__ = ["MailStack"]


@dataclass(frozen=True)
class MailStack:
    """What a mail test needs: Dovecot (IMAP) and the SMTP servers in front of it.

    ``smtp`` is plaintext only (no STARTTLS advertised, no AUTH); ``smtp_tls``
    offers STARTTLS with Dovecot's test certificate (trust ``ca_file``).
    """

    dovecot: DovecotServer
    smtp: SmtpServer
    smtp_tls: SmtpServer

    @property
    def host(self) -> str:
        return self.dovecot.host

    @property
    def imap_port(self) -> int:
        return self.dovecot.imap_port

    @property
    def imaps_port(self) -> int:
        return self.dovecot.imaps_port

    @property
    def smtp_port(self) -> int:
        return self.smtp.port

    @property
    def ca_file(self) -> str:
        return self.dovecot.ca_file
