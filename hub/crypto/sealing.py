"""Personal data at rest: SecretBox (XSalsa20-Poly1305) under the active data key.

A sealed value is ``b"s1" + key fingerprint (16 ASCII hex) + nonce + ciphertext``, so a
value sealed before a key rotation still opens, and tampering is detected (the MAC fails).
After ``keys rotate data`` the values under older keys are re-sealed under the current
one in the background (:meth:`Sealer.reseal`, :mod:`hub.services.reseal`).
"""

from __future__ import annotations

import json
from typing import Any

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from hub.crypto.keys import KeyRing

MAGIC = b"s1"


class SealError(Exception):
    """A sealed value could not be opened: altered, truncated, or sealed under an
    unknown key."""


class Sealer:
    """Seals and opens bytes and JSON values with the hub's data keys."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        active = ring.current("data")
        self._fp = active.fingerprint.encode()
        self._box = SecretBox(active.secret)
        self._boxes = {fp.encode(): SecretBox(k.secret) for fp, k in ring.keys["data"].items()}

    @property
    def prefix(self) -> bytes:
        """How every value sealed under the current data key begins."""
        return MAGIC + self._fp

    def seal(self, plaintext: bytes) -> bytes:
        return MAGIC + self._fp + bytes(self._box.encrypt(plaintext))

    def reseal(self, sealed: bytes) -> bytes:
        """``sealed`` under the current data key (unchanged if it already is)."""
        if bytes(sealed[:18]) == self.prefix:
            return sealed
        return self.seal(self.open(sealed))

    def open(self, sealed: bytes) -> bytes:
        if not sealed.startswith(MAGIC) or len(sealed) < 2 + 16 + 24 + 16:
            raise SealError("not a sealed value (wrong format or truncated)")
        box = self._boxes.get(bytes(sealed[2:18]))
        if box is None:
            raise SealError("sealed under a data key this hub does not have")
        try:
            return bytes(box.decrypt(bytes(sealed[18:])))
        except CryptoError:
            raise SealError("sealed value failed its integrity check (altered?)") from None

    def seal_json(self, value: Any) -> bytes:
        return self.seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())

    def open_json(self, sealed: bytes) -> Any:
        return json.loads(self.open(sealed))
