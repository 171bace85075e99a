"""Reading outsiders' mail in worker processes, each message within a time and memory
budget, never on the event loop (STYLE.md habit 11).

A worker is a process of its own with an address-space limit (``RLIMIT_AS``): a message
that needs more memory fails there with ``MemoryError`` and the worker is replaced. The
hub gives each message its time: a worker that has not answered within it is killed and
replaced, and the messages after it go to the new worker. Either way the message's
result is an :class:`Overrun` naming the budget, which intake turns into a needs-triage
or quarantine record with that reason. The loop never waits on a parser; it awaits a
thread that waits on a pipe.

Jobs are functions of :mod:`hub.mail.reading` (module-level, so they pickle by name) with
tuples of plain values as their arguments. A batch is split across the workers in order
and each worker streams its results back one message at a time, so the budget is per
message, not per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("hub.reading")

# Workers are forked from a small server process that has imported the readers once:
# quick to start, and they inherit no threads, sockets or database connections.
_PRELOAD = ["hub.mail.reading"]
# How long a worker may take to start and take in a batch before its first message's
# budget begins (a cold start imports the readers; a batch may be 100 messages).
_READY_SECONDS = 60.0


@dataclass(frozen=True)
class Budget:
    """What reading one message may cost."""

    seconds: float
    memory_bytes: int


@dataclass(frozen=True)
class Overrun:
    """A message its reading could not finish: ``reason`` says which budget, or how."""

    reason: str


def _worker_main(conn: Connection, memory_bytes: int) -> None:
    """A worker: limit the address space, then read jobs and answer each in turn."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            fn, jobs = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(("ready", None))  # the budget of the first message starts now
        for job in jobs:
            conn.send(_attempt(fn, job))


def _attempt(fn: Callable[..., Any], job: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", fn(*job)
    except MemoryError:
        return "memory", None
    except Exception as exc:  # noqa: BLE001 - reported, and the message is kept
        return "error", type(exc).__name__


class _Worker:
    """One worker process and its pipe; used by one thread at a time."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_worker_main, args=(theirs, self.memory_bytes), daemon=True
        )
        process.start()
        theirs.close()
        self.process, self.conn = process, ours
        return ours

    def stop(self) -> None:
        """Kill the process (a worker over its time may be in a loop) and reap it."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            process.kill()
            process.join(5)

    def run(
        self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], seconds: float
    ) -> list[Any]:
        """Each job's result or :class:`Overrun`, in order (blocking: run in a thread)."""
        results: list[Any] = []
        while len(results) < len(jobs):
            pending = jobs[len(results) :]
            conn = self.conn or self._start()
            try:
                conn.send((fn, list(pending)))
            except (OSError, EOFError):
                self.stop()
                results.append(Overrun("the reading worker stopped"))
                continue
            results += self._collect(conn, len(pending), seconds)
        return results

    def _collect(self, conn: Connection, count: int, seconds: float) -> list[Any]:
        """Results as they come; stops (and replaces the worker) at the first overrun."""
        results: list[Any] = []
        if not _ready(conn):
            self.stop()
            return [Overrun(_REASONS["crash"])]
        for _ in range(count):
            try:
                ready = conn.poll(seconds)
                kind, value = conn.recv() if ready else ("time", None)
            except (EOFError, OSError):
                kind, value = "crash", None
            if kind == "ok":
                results.append(value)
                continue
            results.append(Overrun(_REASONS.get(kind, f"reading failed ({value})")))
            if kind != "error":
                self.stop()
                break
        return results


def _ready(conn: Connection) -> bool:
    """Whether the worker took in the batch (started, imported, unpickled)."""
    try:
        return bool(conn.poll(_READY_SECONDS)) and conn.recv()[0] == "ready"
    except (EOFError, OSError):
        return False


_REASONS = {
    "time": "reading the mail took longer than its time budget",
    "memory": "reading the mail needed more memory than its budget",
    "crash": "the reading worker stopped while reading the mail",
}


class ReadingPool:
    """A few worker processes shared by the mailboxes; started on first use."""

    def __init__(self, workers: int, budget: Budget) -> None:
        self.budget = budget
        self._idle: asyncio.Queue[_Worker] | None = None
        self._workers = max(1, workers)

    def _queue(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self._workers):
                self._idle.put_nowait(_Worker(self.budget.memory_bytes))
        return self._idle

    async def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``fn(*job)`` for every job, in order, each within the budget: its result, or
        an :class:`Overrun`."""
        if not jobs:
            return []
        size = -(-len(jobs) // self._workers)
        chunks = [jobs[at : at + size] for at in range(0, len(jobs), size)]
        done = await asyncio.gather(*(self._run(fn, chunk) for chunk in chunks))
        return [result for chunk in done for result in chunk]

    async def _run(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]) -> list[Any]:
        idle = self._queue()
        worker = await idle.get()
        try:
            return await asyncio.to_thread(worker.run, fn, jobs, self.budget.seconds)
        except asyncio.CancelledError:
            # The thread may still be using the worker: kill it, hand back a new one.
            worker.stop()
            worker = _Worker(self.budget.memory_bytes)
            raise
        finally:
            idle.put_nowait(worker)

    async def close(self) -> None:
        """Stop every idle worker (a busy one is stopped by its cancelled caller)."""
        if self._idle is None:
            return
        while not self._idle.empty():
            worker = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(worker.stop)
        self._idle = None
