"""After a key rotation: every sealed value moves to the current data key, and every blind
index to the current index key (STYLE.md habit 12; ``marrac-hub keys``).

Nothing is ever lost while this runs or if it never runs: each sealed value names the key
that sealed it and old keys stay in the key directory, so a value under an older key opens
as before. Re-sealing only means an old data key could one day be retired.

- **Data** (``keys rotate data``): :func:`reseal` walks every ``*_sealed`` column (found
  from the models, so a new sealed column is covered without a change here), a batch of
  rows per transaction, and replaces each value not under the current key with the same
  plaintext sealed under it. The update is guarded by the old value, so a row another
  process changed meanwhile is left as that process wrote it. The scheduler runs it in
  the background (the ``reseal`` job of ``marrac-hub serve``) and ``keys reseal`` runs it
  at once; a value that does not open is counted, logged (never its content) and left.
  Answers are not here: they are sealed to the box key, and every box key is kept.
- **Index** (``keys rotate index``): a blind index cannot say which key made it, so the
  rotation recomputes every person's index under the new key from the sealed person
  (:func:`reindex_people`) *before* the new key becomes current; lookups then need one
  key only. The background job repeats the pass once per new index key, for rows a hub
  that was still running on the old key wrote before its restart.

Which key a pass last completed under is kept in ``hub_state`` (``keys.resealed``,
``keys.reindexed``), so the job costs one row read once the work is done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Column, LargeBinary, Table, func, select, update
from sqlalchemy.exc import IntegrityError

from hub.crypto import keys
from hub.crypto.indexes import Indexer
from hub.crypto.sealing import Sealer, SealError
from hub.domain.repeats import identity_key
from hub.services.context import Context
from hub.store.models import Answer, Base, HubState, Person, table_of

log = logging.getLogger("hub.keys")

RESEALED_KEY = "keys.resealed"
REINDEXED_KEY = "keys.reindexed"
BATCH = 200


@dataclass
class ResealReport:
    """What one pass did: values re-sealed, values that would not open, indexes redone."""

    resealed: int = 0
    unreadable: int = 0
    reindexed: int = 0


def sealed_columns() -> list[tuple[Table, Column[Any]]]:
    """Every column sealed under the data key: binary, named ``sealed`` or ``*_sealed``,
    except the answers (sealed to the box key)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            named = column.name == "sealed" or column.name.endswith("_sealed")
            if named and isinstance(column.type, LargeBinary) and table is not table_of(Answer):
                found.append((table, column))
    return found


async def _state(ctx: Context, key: str) -> str | None:
    async with ctx.sessions() as session, session.begin():
        row = await session.get(HubState, key)
        return row.value if row is not None else None


async def _mark(ctx: Context, key: str, value: str) -> None:
    try:
        async with ctx.sessions() as session, session.begin():
            await session.merge(HubState(key=key, value=value, updated_at=ctx.clock.now()))
    except IntegrityError:
        pass  # another hub marked it first: the same work is done


async def _reseal_row(ctx: Context, table: Table, column: Column[Any], row_id: int) -> int:
    """Re-seal one value, in the caller's transaction; 1 if it changed, -1 if unreadable."""
    pk = table.c.id
    async with ctx.sessions() as session, session.begin():
        old = await session.scalar(select(column).where(pk == row_id))
        if old is None:
            return 0
        try:
            new = ctx.sealer.reseal(bytes(old))
        except SealError as exc:
            log.warning(
                "event=keys.reseal.unreadable table=%s column=%s id=%d reason=%s",
                table.name,
                column.name,
                row_id,
                exc,
            )
            return -1
        guarded = update(table).where(pk == row_id, column == old).values({column.name: new})
        await session.execute(guarded)
        return 1


async def _reseal_column(
    ctx: Context, table: Table, column: Column[Any], batch: int, report: ResealReport
) -> None:
    pk, prefix, last = table.c.id, ctx.sealer.prefix, 0
    while True:
        async with ctx.sessions() as session, session.begin():
            query = (
                select(pk)
                .where(
                    pk > last, column.is_not(None), func.substr(column, 1, len(prefix)) != prefix
                )
                .order_by(pk)
                .limit(batch)
            )
            ids = list((await session.scalars(query)).all())
        for row_id in ids:
            outcome = await _reseal_row(ctx, table, column, row_id)
            report.resealed += max(outcome, 0)
            report.unreadable += outcome < 0
        if len(ids) < batch:
            return
        last = ids[-1]


def person_index(indexer: Indexer, person: dict[str, Any]) -> str | None:
    """A sealed person's blind index under ``indexer``, as intake computes it."""
    born = person.get("date_of_birth")
    key = identity_key(person.get("name"), date.fromisoformat(born) if born else None)
    return indexer.blind("identity", key) if key else None


async def reindex_people(
    ctx: Context, indexer: Indexer, sealer: Sealer, *, batch: int = BATCH
) -> int:
    """Recompute every person's blind index under ``indexer`` from the sealed person
    (opened with ``sealer``), a batch per transaction. Returns how many changed."""
    changed, last = 0, 0
    while True:
        async with ctx.sessions() as session, session.begin():
            query = select(Person).where(Person.id > last).order_by(Person.id).limit(batch)
            people = list((await session.scalars(query)).all())
            for p in people:
                index = person_index(indexer, sealer.open_json(p.sealed))
                if index != p.identity_index:
                    p.identity_index, changed = index, changed + 1
        if len(people) < batch:
            return changed
        last = people[-1].id


async def reseal(ctx: Context, *, batch: int = BATCH, force: bool = False) -> ResealReport:
    """Bring sealed values and blind indexes under the current keys.

    Skips each part already completed under the current key (unless ``force``); the
    scheduler calls this every sweep interval, ``keys reseal`` calls it with ``force``.
    """
    assert ctx.ring is not None
    report = ResealReport()
    data_fp, index_fp = ctx.ring.active["data"], ctx.ring.active["index"]
    on_disk = keys.active_on_disk(ctx.settings.hub.key_dir)
    if {k: on_disk.get(k) for k in ("data", "index")} != {"data": data_fp, "index": index_fp}:
        # Keys were rotated after this process started: it seals and indexes with the
        # keys it loaded until it restarts, so re-sealing now would go the wrong way.
        log.warning("event=keys.stale reason=keys rotated since start; restart the hub")
        return report
    if force or await _state(ctx, RESEALED_KEY) != data_fp:
        for table, column in sealed_columns():
            await _reseal_column(ctx, table, column, batch, report)
        if report.unreadable == 0:
            await _mark(ctx, RESEALED_KEY, data_fp)
    if force or await _state(ctx, REINDEXED_KEY) != index_fp:
        report.reindexed = await reindex_people(ctx, ctx.indexer, ctx.sealer, batch=batch)
        await _mark(ctx, REINDEXED_KEY, index_fp)
    if report.resealed or report.unreadable or report.reindexed:
        log.info(
            "event=keys.resealed data_key=%s resealed=%d unreadable=%d reindexed=%d",
            data_fp,
            report.resealed,
            report.unreadable,
            report.reindexed,
        )
    return report


@dataclass(frozen=True)
class Rotated:
    """A rotation done: the new current key, the one it replaced, indexes recomputed."""

    kind: str
    fingerprint: str
    replaced: str | None
    reindexed: int = 0


async def rotate_key(ctx: Context, kind: str) -> Rotated:
    """Make a new key of ``kind`` current, keeping the old ones for reading.

    For ``index``, every person's blind index is recomputed under the new key before it
    becomes current (run again after a failure: the recompute starts from the sealed
    values, and an unused new key file harms nothing). ``ctx`` keeps the keys it was
    opened with: a running hub uses a new key from its next start.
    """
    key_dir = ctx.settings.hub.key_dir
    if kind not in keys.KINDS:
        raise keys.KeyFileError(f"unknown key kind {kind!r} (one of {', '.join(keys.KINDS)})")
    fp = keys.add(key_dir, kind)
    reindexed = 0
    if kind == "index":
        ring = keys.load(key_dir)
        reindexed = await reindex_people(ctx, Indexer(ring, fp), Sealer(ring))
    replaced = keys.activate(key_dir, kind, fp, ctx.clock.now())
    log.info(
        "event=keys.rotated kind=%s key=%s replaced=%s reindexed=%d",
        kind,
        fp,
        replaced or "-",
        reindexed,
    )
    return Rotated(kind, fp, replaced, reindexed)
