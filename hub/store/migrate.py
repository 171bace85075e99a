"""Run Alembic migrations from code (``marrac-hub init`` and the tests use this)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent

# The Alembic config attribute a data migration finds the audit chain's key under.
AUDIT_CHAIN = "audit_chain"


class ChainLinker(Protocol):
    """What migration 0006 needs to key the audit rows written before keyed links
    (``hub.crypto.chain.ChainKeys``; the store may not import the crypto package)."""

    @property
    def key_id(self) -> str: ...

    def link(self, key_id: str, message: bytes) -> str: ...


def alembic_config(url: str, audit_chain: ChainLinker | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if audit_chain is not None:
        cfg.attributes[AUDIT_CHAIN] = audit_chain
    return cfg


def upgrade(url: str, revision: str = "head", audit_chain: ChainLinker | None = None) -> None:
    """Bring the database at ``url`` up to ``revision`` (blocking; call off the loop).

    ``audit_chain`` keys existing audit events on the way to revision 0006; a database
    that has events needs it (``marrac-hub init`` passes it), an empty one does not."""
    command.upgrade(alembic_config(url, audit_chain), revision)
