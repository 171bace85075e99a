"""Keyed hashes: blind indexes for lookups over encrypted data, digests for dedupe.

A blind index is HMAC-SHA256 under the ``index`` key of a normalised value: equal inputs
match, but without the key nobody can test a guessed name against the database.

A blind index cannot name its key (it is compared, never opened), so ``keys rotate
index`` recomputes every stored index under the new key, from the sealed values, before
the new key becomes current (:mod:`hub.services.reseal`): lookups then need only one key.
"""

from __future__ import annotations

import hashlib
import hmac

from hub.crypto.keys import KeyRing


class Indexer:
    """Blind indexes under the ring's current ``index`` key, or under key ``fp``."""

    def __init__(self, ring: KeyRing, fp: str | None = None) -> None:
        key = ring.current("index") if fp is None else ring.get("index", fp)
        self.fingerprint = key.fingerprint
        self._key = key.secret

    def __repr__(self) -> str:  # never show key material, even in a traceback
        return f"Indexer(fingerprint={self.fingerprint!r})"

    def blind(self, purpose: str, value: str) -> str:
        """HMAC of ``purpose`` and ``value``: separate purposes never collide."""
        mac = hmac.new(self._key, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256)
        return mac.hexdigest()
