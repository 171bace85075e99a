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
from hub.crypto.indexes import Indexer
from hub.crypto.keys import KeyRing
from hub.crypto.sealing import Sealer
from hub.domain.calendar import WorkingCalendar
from hub.domain.policy import DEFAULT_POLICY, Policy
from hub.store import migrate
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

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return self.policy.working_calendar()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()


async def initialise(settings: Settings) -> dict[str, str]:
    """Create the key directory and keys (if missing) and migrate the database."""
    fingerprints = keys.ensure(settings.hub.key_dir)
    await asyncio.to_thread(migrate.upgrade, settings.database.url)
    return fingerprints


async def open_context(settings: Settings, clock: Clock | None = None) -> Context:
    """Load keys and connect; the database must already be migrated (``init``)."""
    ring = keys.load(settings.hub.key_dir)
    engine = make_engine(settings.database.url)
    return Context(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=make_sessions(engine),
        sealer=Sealer(ring),
        indexer=Indexer(ring),
        ring=ring,
        policy=load_policy(settings),
    )
