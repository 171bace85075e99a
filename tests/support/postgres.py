"""Throwaway PostgreSQL databases on the machine's server (127.0.0.1:5432, trust auth).

Why one database per run (or per test) instead of the shared ``test`` database: CI
runs on the development machine against the same server, so runs and engineers
would otherwise trample each other's tables. Names carry a ``mh_test_`` prefix, the
date and the pid so leftovers from a crashed run are easy to spot and drop.

asyncpg is async-only; these helpers are called from synchronous fixtures, and a
test's event loop may already be running in this thread, so each call runs its
own ``asyncio.run`` in a short-lived worker thread (which also keeps our loop from
replacing pytest-asyncio's current event loop).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

__all__ = [
    "PG_HOST",
    "PG_PORT",
    "PG_USER",
    "create_database",
    "database_name",
    "drop_database",
    "postgres_available",
    "url_for",
]

PG_HOST = os.environ.get("MARRAC_HUB_TEST_PGHOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MARRAC_HUB_TEST_PGPORT", "5432"))
PG_USER = os.environ.get("MARRAC_HUB_TEST_PGUSER", "postgres")
#: Maintenance databases to connect to for CREATE/DROP DATABASE, in order.
ADMIN_DATABASES = ("postgres", "test")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

T = TypeVar("T")


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in a worker thread."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="postgres-admin", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


async def _admin_connection(timeout: float) -> asyncpg.Connection:
    last: BaseException | None = None
    for database in ADMIN_DATABASES:
        try:
            return await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=PG_USER, database=database, timeout=timeout
            )
        except asyncpg.InvalidCatalogNameError as exc:  # that maintenance db is missing
            last = exc
    assert last is not None
    raise last


def postgres_available(timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the server answers, and if not, what went wrong (for ``require``)."""

    async def probe() -> None:
        conn = await _admin_connection(timeout)
        await conn.close()

    try:
        _run(probe)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return False, (
            f"PostgreSQL not reachable at {PG_USER}@{PG_HOST}:{PG_PORT} "
            f"({type(exc).__name__}: {exc})"
        )
    return True, ""


def database_name(name_or_url: str) -> str:
    """The database name from a name or an SQLAlchemy/libpq URL."""
    if "://" in name_or_url:
        name = urlsplit(name_or_url).path.lstrip("/")
    else:
        name = name_or_url
    if not _NAME_RE.match(name):
        raise ValueError(f"refusing unexpected database name {name!r}")
    return name


def url_for(name: str, driver: str = "postgresql+asyncpg") -> str:
    """SQLAlchemy URL for database ``name`` on the test server."""
    return f"{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def create_database(prefix: str = "mh_test") -> str:
    """Create a uniquely named database and return its SQLAlchemy asyncpg URL."""
    name = f"{prefix}_{time.strftime('%Y%m%d')}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    database_name(name)  # validates

    async def create() -> None:
        conn = await _admin_connection(10.0)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    _run(create)
    return url_for(name)


def drop_database(name_or_url: str) -> None:
    """Drop a database made by ``create_database``; ends its sessions first."""
    name = database_name(name_or_url)

    async def drop() -> None:
        conn = await _admin_connection(10.0)
        try:
            # Pool connections a test forgot to dispose would block DROP DATABASE.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run(drop)
