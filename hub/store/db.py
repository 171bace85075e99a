"""Engine, sessions and the few dialect differences the hub cares about.

SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every transaction, so two
writers queue up instead of failing half-way with "database is locked".
PostgreSQL: ``FOR UPDATE SKIP LOCKED`` claims and transaction-scoped advisory locks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_READ_ONLY_KEY = "hub_read_only"
#: Session options for a transaction that only reads: ``ctx.sessions(**READ_ONLY)``.
#: On SQLite it begins DEFERRED instead of IMMEDIATE, so it does not queue behind (or
#: hold up) writers; a write inside it is a bug and may fail with "database is locked".
READ_ONLY: dict[str, Any] = {"execution_options": {_READ_ONLY_KEY: True}}


# Connections to a SQLite file per process (hub.store.db.make_engine).
SQLITE_POOL = 10


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An engine configured for the hub's access pattern on either database."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A fixed pool, no overflow: each aiosqlite connection is a thread, and an
        # overflow connection opened for a burst and closed after it (a new thread, the
        # pragmas below) cost more than waiting a moment for a pooled one.
        engine = create_async_engine(
            url, connect_args={"timeout": 60}, pool_size=SQLITE_POOL, max_overflow=0
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            # Deleted pages are zeroed, so removed plaintext-free rows leave no remnants.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # A reader (READ_ONLY) takes no write lock: WAL lets it run beside a writer.
            read_only = conn.get_execution_options().get(_READ_ONLY_KEY)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=5, pool_pre_ping=True)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def lock_id(name: str) -> int:
    """A stable signed 64-bit number for a named advisory lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def advisory_xact_lock(session: AsyncSession, name: str) -> None:
    """Serialise transactions on ``name`` until commit (PostgreSQL). SQLite's
    ``BEGIN IMMEDIATE`` already serialises every writer, so there it does nothing."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id(name)})
