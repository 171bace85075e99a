"""What the sweep shares between milestones and requests: claiming due rows, the steps
already done, and one batch's ledger rows and mail, written together.

A batch is one transaction: the rows it claimed (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, SQLite's single writer otherwise) are its own until commit, and its ledger
rows, links and outbox rows commit or roll back as one. One row that fails unexpectedly
does not take its batch with it: its work is undone, it leaves the sweep
(``next_action_at`` cleared) and it is parked (stage ``sweep``) once the batch commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.domain.deadlines import Step
from hub.domain.notices import Notice
from hub.services import outbox, parked
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
    # Subjects (``milestone:<id>``, ``request:<id>``) that failed and were parked.
    parked: list[str] = field(default_factory=list)


@dataclass
class Batch:
    """One claimed batch's work as of ``now``: ledger rows, new links and outbox rows."""

    ctx: Context
    now: datetime
    report: SweepReport
    ledger: list[dict[str, Any]] = field(default_factory=list)
    mails: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[str, Exception]] = field(default_factory=list)

    @contextmanager
    def attempt(self, subject: str, row: Any) -> Iterator[None]:
        """One row's work (the ``with`` body); if it raises, undo what it added to the
        batch and take the row out of the sweep until ``parked retry`` puts it back."""
        marks = (len(self.ledger), len(self.mails), len(self.links))
        counts = replace(self.report, by_step=dict(self.report.by_step))
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - parked after commit; the batch goes on
            del self.ledger[marks[0] :], self.mails[marks[1] :], self.links[marks[2] :]
            self.report.steps, self.report.mails = counts.steps, counts.mails
            self.report.by_step = counts.by_step
            row.next_action_at = None
            self.failed.append((subject, exc))

    async def park_failed(self) -> None:
        """Park the rows that failed (after the batch committed: each its own record)."""
        for subject, exc in self.failed:
            await parked.park(self.ctx, "sweep", subject, exc, None)
            self.report.parked.append(subject)

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

    def supersede(self, subject: str, ref: str | None, step: Step) -> None:
        """One ledger row for a due step a later one replaced (a late sweep sends only
        what is true now): done, with no mail of its own."""
        self.ledger.append(
            dict(
                subject=subject,
                subject_ref=ref,
                step=step.name,
                kind=step.kind,
                due_at=step.due,
                done_at=self.now,
                outcome="superseded",
                recipients=[],
            )
        )

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
