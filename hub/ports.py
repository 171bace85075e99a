"""The ports: the protocols and value types the edges implement, owned by the core.

``connectors/`` implements these (IMAP, Maildir, SMTP) and the services consume them, so
neither side imports the other: intake takes a :class:`MailboxSource`'s
:class:`InboundItem` values, the outbox hands :class:`Envelope` values to a
:class:`MailSender` and reads back a :class:`SendResult`. In-memory implementations for
tests live beside the real ones, and one conformance suite runs against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from hub.domain.retry import is_temporary


@dataclass(frozen=True)
class InboundItem:
    """One message as a source hands it over."""

    source_key: str
    mailbox: str
    raw: bytes
    uidvalidity: int | None = None
    uid: int | None = None


@dataclass(frozen=True)
class Settled:
    """A committed message and the folder it should move to."""

    item: InboundItem
    # "processed" or "quarantine"
    destination: str


class MailboxSource(Protocol):
    """A mailbox the hub reads. Implementations: IMAP (production), Maildir (demo, tests).

    Intake calls :meth:`fetch`, commits each message, then calls :meth:`acknowledge` with
    where each one should go. A source never removes a message it has not been told is
    committed.
    """

    name: str

    async def fetch(self, limit: int) -> list[InboundItem]:
        """Up to ``limit`` messages not yet acknowledged, oldest first."""
        ...

    async def acknowledge(self, settled: list[Settled]) -> None:
        """Move committed messages out of the way (only ever after commit)."""
        ...

    async def wait_for_mail(self, timeout: float) -> None:
        """Return when new mail may have arrived, or after ``timeout`` seconds."""
        ...

    async def close(self) -> None:
        """Log out and release the connection (idempotent)."""
        ...


@dataclass(frozen=True)
class Envelope:
    """A message ready for the wire."""

    outbox_id: int
    sender: str
    recipient: str
    message: bytes


@dataclass(frozen=True)
class SendResult:
    """What the server said about one message: accepted, or refused with its code."""

    ok: bool
    code: int | None = None
    reply: str = ""

    @property
    def temporary(self) -> bool:
        """A refusal worth retrying (4xx, a timeout, a cut connection)."""
        return not self.ok and is_temporary(self.code)


OnResult = Callable[[Envelope, SendResult], Awaitable[None]]


class SessionRefused(Exception):
    """The server refused the hub itself, not a message: a 5xx at connect, greeting or
    login (RFC 5321 4.2.1, RFC 4954 6). Nothing was sent and no message is at fault, so
    the outbox pauses delivery and alerts instead of failing every queued message."""

    def __init__(self, code: int, reply: str) -> None:
        super().__init__(f"{code} {reply}")
        self.code = code
        self.reply = reply


class MailSender(Protocol):
    """Delivers messages. Never raises for a single message's failure: a refused or
    timed-out message is a result, not an exception."""

    async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
        """Send in order, awaiting ``on_result`` after each message before the next. May
        stop early (connection lost): envelopes without a result were never sent.
        Raises :class:`SessionRefused` when the server refuses the session itself."""
        ...
