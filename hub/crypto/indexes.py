"""Keyed hashes: blind indexes for lookups over encrypted data, digests for dedupe.

A blind index is HMAC-SHA256 under the ``index`` key of a normalised value: equal inputs
match, but without the key nobody can test a guessed name against the database.
"""

from __future__ import annotations

import hashlib
import hmac

from hub.crypto.keys import KeyRing


class Indexer:
    def __init__(self, ring: KeyRing) -> None:
        self._key = ring.current("index").secret

    def blind(self, purpose: str, value: str) -> str:
        """HMAC of ``purpose`` and ``value``: separate purposes never collide."""
        mac = hmac.new(self._key, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256)
        return mac.hexdigest()
