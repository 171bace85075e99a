"""In-memory mailbox source and mail sender: the fakes beside the real edges.

They implement :mod:`hub.ports` the way IMAP and SMTP do (the conformance suite,
``tests/integration/test_ports_conformance.py``, runs the same tests against both), so a
test that needs no protocol behaviour can run a whole hub without Dovecot or an SMTP
server. Both are safe to feed from another thread (a test driving a hub that runs in a
loop thread of its own).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass

from hub.ports import Envelope, InboundItem, OnResult, SendResult, Settled

# UIDs are only meaningful with their UIDVALIDITY (RFC 3501 2.3.1.1); ours never changes.
UIDVALIDITY = 1
ACCEPTED = SendResult(ok=True, code=250, reply="2.0.0 accepted (in memory)")


class MemorySource:
    """A mailbox held in memory: ``deliver`` puts mail in, intake takes it out.

    Like the IMAP source it hands out messages oldest first, never removes one before it
    is acknowledged, and moves acknowledged ones into ``folders["processed"]`` or
    ``folders["quarantine"]``.
    """

    def __init__(self, name: str = "memory:inbox") -> None:
        self.name = name
        self.folders: dict[str, list[bytes]] = {"processed": [], "quarantine": []}
        self.closed = False
        self._inbox: dict[int, bytes] = {}
        self._next_uid = 1
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def deliver(self, raw: bytes) -> None:
        """Put one message in the mailbox (any thread) and wake anyone waiting for mail."""
        with self._lock:
            self._inbox[self._next_uid] = raw
            self._next_uid += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    @property
    def inbox(self) -> list[bytes]:
        """The messages not yet acknowledged, oldest first."""
        with self._lock:
            return [self._inbox[uid] for uid in sorted(self._inbox)]

    async def fetch(self, limit: int) -> list[InboundItem]:
        """Up to ``limit`` messages not yet acknowledged, oldest first."""
        with self._lock:
            uids = sorted(self._inbox)[:limit]
            return [
                InboundItem(
                    source_key=f"{self.name}:{UIDVALIDITY}:{uid}",
                    mailbox=self.name,
                    raw=self._inbox[uid],
                    uidvalidity=UIDVALIDITY,
                    uid=uid,
                )
                for uid in uids
            ]

    async def acknowledge(self, settled: list[Settled]) -> None:
        """Move committed messages into their folder; ones already moved are skipped."""
        with self._lock:
            for s in settled:
                raw = self._inbox.pop(s.item.uid, None) if s.item.uid is not None else None
                if raw is not None:
                    self.folders[s.destination].append(raw)

    async def wait_for_mail(self, timeout: float) -> None:
        """Return as soon as mail is delivered, or after ``timeout`` seconds."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter[1].wait()
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    async def close(self) -> None:
        """Nothing to release; idempotent, and the mailbox stays readable."""
        self.closed = True


@dataclass(frozen=True)
class _Refusal:
    """A scripted answer: ``code`` refuses; ``drop`` loses the connection instead."""

    code: int | None
    reply: str
    drop: bool = False


def _refusal(code: int) -> _Refusal:
    if not 400 <= code < 600:
        raise ValueError(f"a refusal is a 4xx or 5xx code, not {code}")
    kind = "4.3.0 Temporary failure" if code < 500 else "5.1.1 Rejected"
    return _Refusal(code, f"{kind} (scripted)")


class MemorySender:
    """Records what it is given in ``sent``; refusals are scripted, as a server's would be.

    - :meth:`refuse` refuses every message to one recipient (an unknown mailbox, 550).
    - :meth:`refuse_next` refuses the next messages whatever their recipient (451, 554).
    - :meth:`drop_next` loses the connection at the next message: that message gets a
      temporary result with no code and the rest of the batch is not tried.
    """

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self._refused: dict[str, _Refusal] = {}
        self._next: deque[_Refusal] = deque()
        self._lock = threading.Lock()

    def refuse(self, recipient: str, code: int = 550) -> None:
        """Refuse every message to ``recipient`` with ``code`` (RFC 5321 4.2.1)."""
        with self._lock:
            self._refused[recipient.lower()] = _refusal(code)

    def refuse_next(self, n: int = 1, code: int = 451) -> None:
        """Refuse the next ``n`` messages with ``code``."""
        with self._lock:
            self._next.extend([_refusal(code)] * n)

    def drop_next(self) -> None:
        """Lose the connection when the next message is sent."""
        with self._lock:
            self._next.append(_Refusal(None, "ConnectionResetError", drop=True))

    def sent_to(self, recipient: str) -> list[Envelope]:
        """The accepted envelopes for ``recipient``, in the order they were sent."""
        return [env for env in self.sent if env.recipient.lower() == recipient.lower()]

    def _answer(self, env: Envelope) -> _Refusal | None:
        with self._lock:
            if self._next:
                return self._next.popleft()
            refusal = self._refused.get(env.recipient.lower())
            if refusal is None:
                self.sent.append(env)
            return refusal

    async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
        """Send in order, awaiting ``on_result`` after each message; a dropped connection
        ends the batch (the envelopes after it never get a result)."""
        for env in envelopes:
            refusal = self._answer(env)
            if refusal is None:
                await on_result(env, ACCEPTED)
                continue
            await on_result(env, SendResult(ok=False, code=refusal.code, reply=refusal.reply))
            if refusal.drop:
                return
