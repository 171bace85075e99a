"""Group commit for the audit trail: many requests' events, one writer, one transaction.

Every audit event extends one chain, so every writer must take the chain's lock (SQLite's
write lock, or PostgreSQL's advisory lock) and read the chain's head. When each request
writes its own event, concurrent requests queue on that lock, and on SQLite they wait in
the driver's busy handler, which sleeps in steps of up to 100 ms: at 50 clients a page
view waited seconds. :class:`AuditWriter` gives the chain one writer per process instead:
a request hands it its event and waits; the writer takes every event waiting, appends
them in one transaction (:func:`hub.services.audit.record_timed`), commits, and releases
their requests together.

Nothing about durability changes: :meth:`AuditWriter.record` returns only once the event
is committed, so a page that shows personal data still goes out after its audit row is
in the database, and if the write fails the request fails with it. Only the waiting is
shared.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.services import audit

log = logging.getLogger("hub.audit")

# Events in one transaction at most: a burst larger than this is written in several.
BATCH = 500

_Waiting = tuple[audit.TimedEvent, "asyncio.Future[None]"]


class AuditWriter:
    """One writer of audit events for one event loop (started on first use)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], batch: int = BATCH) -> None:
        self._sessions = sessions
        self._batch = batch
        self._waiting: list[_Waiting] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def record(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        object_ref: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one event in a transaction of its own (shared with the events of
        other requests waiting at the same moment); return once it is committed."""
        event: audit.TimedEvent = (at, actor, action, object_ref, detail or {})
        loop = asyncio.get_running_loop()
        if self._loop not in (None, loop):  # a context used from a second loop (tests)
            async with self._sessions() as session, session.begin():
                await audit.record_timed(session, [event])
            return
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((event, done))
        self._wake.set()
        if self._task is None or self._task.done():
            self._loop = loop
            self._task = loop.create_task(self._run(), name="audit-writer")
        await done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                batch, self._waiting = (
                    self._waiting[: self._batch],
                    self._waiting[self._batch :],
                )
                await self._write(batch)

    async def _write(self, batch: list[_Waiting]) -> None:
        """Commit ``batch``, then release its requests (or hand each the failure)."""
        try:
            async with self._sessions() as session, session.begin():
                await audit.record_timed(session, [event for event, _ in batch])
        except Exception as exc:  # noqa: BLE001 - each waiting request raises it
            log.warning(
                "event=audit.write_failed events=%d error=%s", len(batch), type(exc).__name__
            )
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():  # a request cancelled meanwhile: its event stands
                done.set_result(None)

    async def close(self) -> None:
        """Stop the writer once the events waiting now are written (their requests
        wait for that anyway)."""
        task, self._task = self._task, None
        if task is None:
            return
        if task.get_loop() is asyncio.get_running_loop():
            waiting = [done for _, done in self._waiting]
            await asyncio.gather(*waiting, return_exceptions=True)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            task.cancel()
