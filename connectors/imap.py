"""The referral mailbox over IMAP (imapclient, run in a worker thread off the event loop).

- TLS, STARTTLS, or plaintext (the settings allow plaintext only to a loopback host).
- UIDs are only meaningful with their UIDVALIDITY (RFC 3501 2.3.1.1): every item carries
  both, and intake's source key is ``imap:<user>/<mailbox>:<uidvalidity>:<uid>``.
- Messages are read with ``BODY.PEEK[]`` (so nothing is marked read before commit) and
  moved with ``UID MOVE`` (RFC 6851) after commit; without MOVE they are copied and
  flagged ``\\Seen``, and only unseen mail is read.
- IDLE (RFC 2177) when offered, re-issued every few minutes (servers drop idle clients
  after 30 minutes); polling otherwise.
Any connection error surfaces as :class:`MailboxUnavailable`; the caller reconnects with
backoff. Nothing here decides what a message means.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from typing import TypeVar

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import IMAPClientError  # type: ignore[import-untyped]

from connectors.tls import client_context
from hub.config import IntakeSettings
from hub.ports import InboundItem, Settled

log = logging.getLogger("connectors.imap")
T = TypeVar("T")

IDLE_RENEW_SECONDS = 25 * 60


class MailboxUnavailable(Exception):
    """The IMAP server could not be reached or dropped the connection."""


class ImapSource:
    """One logged-in IMAP connection to one mailbox, used from one task at a time."""

    def __init__(
        self,
        settings: IntakeSettings,
        *,
        username: str | None = None,
        password: str | None = None,
        mailbox: str | None = None,
    ) -> None:
        self._s = settings
        self._user = username or settings.username
        self._password = password if password is not None else settings.password
        self._mailbox = mailbox or settings.mailbox
        self.name = f"imap:{self._user}/{self._mailbox}"
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self._can_move = False
        self._can_idle = False
        self._lock = threading.Lock()
        self._folders = {
            "processed": settings.processed_folder,
            "quarantine": settings.quarantine_folder,
        }

    # -- plumbing ---------------------------------------------------------------------
    async def _run(self, fn: Callable[[], T]) -> T:
        def guarded() -> T:
            with self._lock:
                try:
                    return fn()
                except (OSError, IMAPClientError, ssl.SSLError, EOFError) as exc:
                    self._drop()
                    raise MailboxUnavailable(f"{type(exc).__name__}: {exc}") from exc

        return await asyncio.to_thread(guarded)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # The socket is already broken; there is nothing left to save.
            with contextlib.suppress(Exception):
                client.shutdown()

    def _connect(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        s = self._s
        if s.imap_security == "tls":
            client = IMAPClient(
                s.imap_host,
                port=s.imap_port,
                ssl=True,
                ssl_context=client_context(s.ca_file),
                timeout=30,
            )
        else:
            client = IMAPClient(s.imap_host, port=s.imap_port, ssl=False, timeout=30)
            if s.imap_security == "starttls":
                client.starttls(client_context(s.ca_file))
        client.login(self._user, self._password)
        caps = {c.upper() for c in client.capabilities()}
        self._can_move = b"MOVE" in caps
        self._can_idle = b"IDLE" in caps and s.idle
        for folder in self._folders.values():
            if not client.folder_exists(folder):
                client.create_folder(folder)
        info = client.select_folder(self._mailbox)
        self._uidvalidity = int(info[b"UIDVALIDITY"])
        self._client = client
        log.info(
            "event=imap.connected mailbox=%s move=%s idle=%s",
            self._mailbox,
            self._can_move,
            self._can_idle,
        )
        return client

    # -- the MailboxSource protocol ---------------------------------------------------
    async def connect(self) -> None:
        await self._run(self._connect)

    async def fetch(self, limit: int) -> list[InboundItem]:
        def fetch() -> list[InboundItem]:
            client = self._connect()
            client.noop()  # picks up expunges and new mail on an idle-less server
            criteria = ["ALL"] if self._can_move else ["UNSEEN"]
            uids = sorted(client.search(criteria))[:limit]
            if not uids:
                return []
            data = client.fetch(uids, [b"BODY.PEEK[]"])
            items = []
            for uid in uids:
                entry = data.get(uid)
                if entry is None or b"BODY[]" not in entry:
                    continue  # expunged by someone else meanwhile
                items.append(
                    InboundItem(
                        source_key=f"{self.name}:{self._uidvalidity}:{uid}",
                        mailbox=self.name,
                        raw=bytes(entry[b"BODY[]"]),
                        uidvalidity=self._uidvalidity,
                        uid=int(uid),
                    )
                )
            return items

        return await self._run(fetch)

    async def acknowledge(self, settled: list[Settled]) -> None:
        if not settled:
            return

        def move() -> None:
            client = self._connect()
            by_folder: dict[str, list[int]] = {}
            for s in settled:
                if s.item.uidvalidity != self._uidvalidity or s.item.uid is None:
                    continue  # a reconnect saw a new UIDVALIDITY: these UIDs mean nothing now
                by_folder.setdefault(self._folders[s.destination], []).append(s.item.uid)
            for folder, uids in by_folder.items():
                if self._can_move:
                    client.move(uids, folder)
                else:
                    client.copy(uids, folder)
                    client.add_flags(uids, [b"\\Seen"])

        await self._run(move)

    async def wait_for_mail(self, timeout: float) -> None:
        """IDLE until the server reports something, or ``timeout`` passes."""
        if not self._can_idle:
            await asyncio.sleep(timeout)
            return
        remaining = timeout
        while remaining > 0:
            # Short IDLE slices keep shutdown prompt and the worker thread interruptible.
            step = min(remaining, 1.0)

            def idle_once(step: float = step) -> bool:
                client = self._connect()
                client.idle()
                try:
                    responses = client.idle_check(timeout=step)
                finally:
                    # Mail that arrived while IDLE was ending is reported here.
                    _text, late = client.idle_done()
                return bool(responses) or bool(late)

            if await self._run(idle_once):
                return
            remaining -= step

    async def close(self) -> None:
        def logout() -> None:
            client, self._client = self._client, None
            if client is not None:
                try:
                    client.logout()
                except (TimeoutError, OSError, IMAPClientError):
                    client.shutdown()

        try:
            await self._run(logout)
        except MailboxUnavailable:
            pass
