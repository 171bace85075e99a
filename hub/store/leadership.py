"""One intake leader per mailbox, across processes (DESIGN.md, "Guarantees").

Two processes reading one mailbox would both fetch each message; the database already
makes the second a no-op, but both would then MOVE it, and Dovecot's MOVE (copy, then
expunge) run twice at once leaves two copies in the Processed folder. So one process
leads and the others wait. The lock dies with its holder: on PostgreSQL a session-level
advisory lock on a connection the leader keeps open; on SQLite an ``flock`` on a file
beside the database. Either is released by the operating system when a leader is
killed, so a standby takes over without any timeout to tune.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.db import lock_id


class Leadership:
    """Try to become the leader for ``name``; keep it until :meth:`release`."""

    def __init__(self, engine: AsyncEngine, lock_dir: Path, name: str) -> None:
        self._engine = engine
        self._name = f"intake-leader:{name}"
        digest = hashlib.sha256(self._name.encode()).hexdigest()[:16]
        self._path = lock_dir / f"intake-{digest}.lock"
        self._conn: AsyncConnection | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        if self._engine.dialect.name == "postgresql":
            conn = await self._engine.connect()
            got = await conn.scalar(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_id(self._name)}
            )
            await conn.commit()
            if got:
                self._conn = conn
                return True
            await conn.close()
            return False
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id(self._name)}
                )
            with contextlib.suppress(Exception):
                await conn.close()
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
