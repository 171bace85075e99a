"""The audit chain's key: each event's link is HMAC-SHA256 under a key of its own.

A plain hash chain proves nothing to someone who can write to the database: they delete
rows and recompute every SHA-256 after them. Keyed links cannot be recomputed without the
key, which lives in the key directory, not in the database. The key is a subkey of the
hub's ``token`` key for the purpose ``audit-chain`` (:func:`hub.crypto.tokens.
derive_subkey`), so it is independent of every other use of that key; each event names
the token key's fingerprint it was linked under, and older token keys stay in the key
ring after a rotation, so the whole chain still verifies.

Exceptions: :class:`hub.crypto.keys.KeyFileError` when an event names a key the ring does
not hold.
"""

from __future__ import annotations

import hashlib
import hmac

from hub.crypto.keys import KeyRing
from hub.crypto.tokens import PURPOSE_AUDIT_CHAIN, derive_subkey


class ChainKeys:
    """Links audit events under the active token key; checks them under any kept one."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._subkeys: dict[str, bytes] = {}

    @property
    def key_id(self) -> str:
        """The fingerprint new events are linked under (the active token key's)."""
        return self._ring.active["token"]

    def _subkey(self, key_id: str) -> bytes:
        if key_id not in self._subkeys:
            secret = self._ring.get("token", key_id).secret
            self._subkeys[key_id] = derive_subkey(secret, PURPOSE_AUDIT_CHAIN)
        return self._subkeys[key_id]

    def link(self, key_id: str, message: bytes) -> str:
        """The hex HMAC-SHA256 of ``message`` under the chain key named ``key_id``."""
        return hmac.new(self._subkey(key_id), message, hashlib.sha256).hexdigest()

    def matches(self, key_id: str, message: bytes, link: str) -> bool:
        """Whether ``link`` is the keyed link of ``message`` (constant-time)."""
        return hmac.compare_digest(self.link(key_id, message), link)
