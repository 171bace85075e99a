"""The embedded demo mailbox and mail drop: Maildir folders on disk, no server needed.

The source reads ``new/`` and ``cur/`` of a Maildir and, once a message is committed,
moves it into the Maildir++ sub-folder ``.Processed`` or ``.Quarantine``. The sender
writes outgoing mail into another Maildir, where the demo shows it to the user.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from hub.ports import Envelope, InboundItem, OnResult, SendResult, Settled

SUBDIRS = ("tmp", "new", "cur")


def ensure_maildir(path: Path) -> None:
    """Create the Maildir's ``tmp``, ``new`` and ``cur`` (what is there is kept)."""
    for sub in SUBDIRS:
        (path / sub).mkdir(parents=True, exist_ok=True)


class MaildirSource:
    """Reads a local Maildir as the referral mailbox."""

    def __init__(
        self, path: Path, processed: str = "Processed", quarantine: str = "Quarantine"
    ) -> None:
        self.path = path
        self.name = f"maildir:{path}"
        self._folders = {"processed": path / f".{processed}", "quarantine": path / f".{quarantine}"}
        ensure_maildir(path)
        for folder in self._folders.values():
            ensure_maildir(folder)

    def _pending(self) -> list[Path]:
        files = [p for sub in ("new", "cur") for p in (self.path / sub).iterdir() if p.is_file()]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    async def fetch(self, limit: int) -> list[InboundItem]:
        def read() -> list[InboundItem]:
            items = []
            for p in self._pending()[:limit]:
                key = p.name.split(":", 1)[0]
                items.append(
                    InboundItem(source_key=f"maildir:{key}", mailbox=self.name, raw=p.read_bytes())
                )
            return items

        return await asyncio.to_thread(read)

    async def acknowledge(self, settled: list[Settled]) -> None:
        for s in settled:
            key = s.item.source_key.removeprefix("maildir:")
            for sub in ("new", "cur"):
                for p in (self.path / sub).glob(f"{key}*"):
                    os.replace(p, self._folders[s.destination] / "cur" / p.name)

    async def wait_for_mail(self, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def close(self) -> None:
        return None


class MaildirSender:
    """Delivers outgoing mail into a Maildir (the demo has no SMTP server)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        ensure_maildir(path)

    async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
        for env in envelopes:
            # The outbox id makes the file name stable: a resend overwrites, never doubles.
            name = f"outbox-{env.outbox_id:08d}"
            ensure_maildir(self.path)
            tmp = self.path / "tmp" / name
            tmp.write_bytes(f"X-Envelope-To: {env.recipient}\r\n".encode() + env.message)
            os.replace(tmp, self.path / "new" / name)
            await on_result(env, SendResult(ok=True, code=250, reply="written to maildir"))
