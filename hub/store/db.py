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


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An engine configured for the hub's access pattern on either database."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 60})

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
            conn.exec_driver_sql("BEGIN IMMEDIATE")

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
