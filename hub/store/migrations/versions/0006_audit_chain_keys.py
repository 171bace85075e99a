"""audit chain keys: every event's link becomes an HMAC under the audit-chain key

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000

Existing rows were linked with plain SHA-256, which anyone who can write to the database
can recompute. This migration adds ``key_id`` and re-links every event with the keyed
link (``hub.crypto.chain``), in id order, *after* checking the old plain chain: an event
is re-keyed only while the plain chain up to it is intact, because re-keying a broken
chain would launder the tampering. From the first broken event on, rows keep their old
hashes and no ``key_id``, so ``marrac-hub audit verify`` reports the break where it was.

The key lives in the key directory, not the database, so a database that holds events
must be upgraded by ``marrac-hub init`` (which passes the key as the Alembic attribute
``audit_chain``); without it the migration refuses rather than leave the chain half done.
The message format below is frozen here on purpose: it is the one the hub used up to now.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from hub.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 1000

_events = sa.table(
    "audit_events",
    sa.column("id", sa.BigInteger),
    sa.column("at", UTCDateTime),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("object_ref", sa.String),
    sa.column("detail", sa.JSON),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
    sa.column("key_id", sa.String),
)


def _message(prev: str, row: Any) -> bytes:
    body = [prev, row.at.isoformat(), row.actor, row.action, row.object_ref, row.detail]
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _rows(bind: sa.Connection) -> Any:
    """Every event in id order, read a batch at a time."""
    after = 0
    while True:
        batch = bind.execute(
            sa.select(_events).where(_events.c.id > after).order_by(_events.c.id).limit(BATCH)
        ).all()
        yield from batch
        if len(batch) < BATCH:
            return
        after = batch[-1].id


def _key_existing_events() -> None:
    bind = op.get_bind()
    count = bind.execute(sa.select(sa.func.count()).select_from(_events)).scalar_one()
    if not count:
        return
    chain = context.config.attributes.get("audit_chain")
    if chain is None:
        raise RuntimeError(
            f"audit_events holds {count} events linked before the chain was keyed: "
            "upgrade with `marrac-hub init`, which reads the keys"
        )
    plain, keyed = GENESIS, GENESIS
    for row in _rows(bind):
        if row.prev_hash != plain or row.hash != hashlib.sha256(_message(plain, row)).hexdigest():
            return  # broken before the upgrade: leave the rest for `audit verify` to report
        link = chain.link(chain.key_id, _message(keyed, row))
        bind.execute(
            sa.update(_events)
            .where(_events.c.id == row.id)
            .values(prev_hash=keyed, hash=link, key_id=chain.key_id)
        )
        plain, keyed = row.hash, link


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    _key_existing_events()


def downgrade() -> None:
    # Keyed links cannot be turned back into plain ones without weakening them; the
    # column goes, and the chain verifies again only under the keyed code.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("key_id")
