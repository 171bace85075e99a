"""The mailbox port: where inbound mail comes from and how it is acknowledged.

Intake calls :meth:`MailboxSource.fetch`, commits each message, then calls
:meth:`MailboxSource.acknowledge` with where each one should go. A source never removes
a message it has not been told is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hub.services.intake import InboundItem


@dataclass(frozen=True)
class Settled:
    """A committed message and the folder it should move to."""

    item: InboundItem
    # "processed" or "quarantine"
    destination: str


class MailboxSource(Protocol):
    """A mailbox the hub reads. Implementations: IMAP (production), Maildir (demo, tests)."""

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

    async def close(self) -> None: ...
