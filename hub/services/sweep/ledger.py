"""What the sweep shares between milestones and requests: claiming due rows, the steps
already done, and one batch's ledger rows and mail, written together.

A batch is one transaction: the rows it claimed (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, SQLite's single writer otherwise) are its own until commit, and its ledger
rows, links and outbox rows commit or roll back as one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.deadlines import Step
from hub.domain.notices import Notice
from hub.services import outbox
from hub.services.context import Context
from hub.store.models import AlertStep, RequestLink, table_of


@dataclass
class SweepReport:
    """What one sweep looked at and sent."""

    milestones: int = 0
    requests: int = 0
    steps: int = 0
    mails: int = 0
    by_step: dict[str, int] = field(default_factory=dict)


@dataclass
class Batch:
    """One claimed batch's work as of ``now``: ledger rows, new links and outbox rows."""

    ctx: Context
    now: datetime
    report: SweepReport
    ledger: list[dict[str, Any]] = field(default_factory=list)
    mails: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    def record(self, subject: str, ref: str | None, step: Step, recipients: list[str]) -> None:
        """One ledger row: this (subject, step) is done, sent to these recipients."""
        self.ledger.append(
            dict(
                subject=subject,
                subject_ref=ref,
                step=step.name,
                kind=step.kind,
                due_at=step.due,
                done_at=self.now,
                outcome="sent",
                recipients=recipients,
            )
        )
        self.report.steps += 1
        self.report.by_step[step.name] = self.report.by_step.get(step.name, 0) + 1

    def mail(self, notice: Notice) -> None:
        """One outbox row, built and sealed now."""
        self.mails.append(outbox.outbox_row(self.ctx, notice))
        self.report.mails += 1

    async def write(self, session: AsyncSession) -> None:
        """The batch's links, ledger rows and mail, inserted together. A unique-key clash
        here means another sweeper already did the work: the transaction rolls back
        whole and the next sweep recomputes from what was committed."""
        if self.links:
            await session.execute(insert(table_of(RequestLink)), self.links)
        if self.ledger:
            await session.execute(insert(table_of(AlertStep)), self.ledger)
        await outbox.insert_rows(session, self.mails)


async def done_steps(session: AsyncSession, subjects: list[str]) -> dict[str, set[str]]:
    """The steps already in the ledger, by subject (``milestone:<id>``, ``request:<id>``)."""
    done: dict[str, set[str]] = defaultdict(set)
    if subjects:
        rows = await session.execute(
            select(AlertStep.subject, AlertStep.step).where(AlertStep.subject.in_(subjects))
        )
        for subject, step in rows.all():
            done[subject].add(step)
    return done


async def load_by_id(session: AsyncSession, model: Any, ids: set[int]) -> dict[int, Any]:
    """Rows of ``model`` by id, in one query."""
    return {
        row.id: row for row in (await session.scalars(select(model).where(model.id.in_(ids)))).all()
    }


async def claim(
    session: AsyncSession, ctx: Context, model: Any, now: datetime, limit: int, skip: set[int]
) -> list[Any]:
    """Up to ``limit`` rows whose ``next_action_at`` has come, oldest first, skipping
    those this sweep has seen (and, on PostgreSQL, those another sweeper holds)."""
    query = (
        select(model)
        .where(model.next_action_at <= now)
        .order_by(model.next_action_at, model.id)
        .limit(limit)
    )
    if skip:
        query = query.where(model.id.notin_(skip))
    if ctx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())
