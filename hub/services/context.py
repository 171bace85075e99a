"""Everything a use case needs, built once from the settings and passed explicitly."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.clock import Clock, SystemClock
from hub.config import Settings, load_policy
from hub.crypto import keys
from hub.crypto.chain import ChainKeys
from hub.crypto.indexes import Indexer
from hub.crypto.keys import KeyRing
from hub.crypto.sealing import Sealer
from hub.domain.calendar import WorkingCalendar
from hub.domain.policy import DEFAULT_POLICY, Policy
from hub.services import audit
from hub.services.audit_writer import AuditWriter
from hub.services.reading_pool import Budget, ReadingPool
from hub.services.tally import MinuteTally
from hub.store.db import make_engine, make_sessions


@dataclass
class Context:
    """The settings, clock, database, keys and policy a use case runs with."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    sealer: Sealer
    indexer: Indexer
    ring: KeyRing | None = None
    policy: Policy = DEFAULT_POLICY
    # Spreads retries (hub.domain.retry's jitter); a test passes a seeded one.
    rng: random.Random = field(default_factory=random.Random)
    # Anonymous attempts (unknown link tokens, rate-limited requests) counted per minute
    # instead of audited one by one (hub.services.tally).
    attempts: MinuteTally = field(default_factory=MinuteTally)

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return self.policy.working_calendar()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @cached_property
    def reading(self) -> ReadingPool:
        """The worker processes that read mail (started on first use)."""
        intake = self.settings.intake
        budget = Budget(intake.read_seconds, intake.read_memory_mb * 1024 * 1024)
        return ReadingPool(intake.read_workers, budget)

    @cached_property
    def audit_writer(self) -> AuditWriter:
        """Group commit for audit events (hub.services.audit_writer): one writer, one
        transaction for the events of every request waiting at that moment."""
        return AuditWriter(self.sessions)

    async def close(self) -> None:
        if "audit_writer" in self.__dict__:
            await self.audit_writer.close()
        if "reading" in self.__dict__:
            await self.reading.close()
        await self.engine.dispose()


async def initialise(settings: Settings) -> dict[str, str]:
    """Create the key directory and keys (if missing) and migrate the database."""
    fingerprints = keys.ensure(settings.hub.key_dir)
    chain = ChainKeys(keys.load(settings.hub.key_dir))  # keys older audit rows (0006)
    # Alembic (a quarter of a second to import) only for the commands that migrate.
    from hub.store import migrate

    await asyncio.to_thread(migrate.upgrade, settings.database.url, "head", chain)
    return fingerprints


async def open_context(settings: Settings, clock: Clock | None = None) -> Context:
    """Load keys and connect; the database must already be migrated (``init``)."""
    ring = keys.load(settings.hub.key_dir)
    engine = make_engine(settings.database.url)
    sessions = make_sessions(engine)
    audit.attach(sessions, ChainKeys(ring))
    return Context(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=sessions,
        sealer=Sealer(ring),
        indexer=Indexer(ring),
        ring=ring,
        policy=load_policy(settings),
    )
