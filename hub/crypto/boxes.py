"""Sealed boxes: anonymous public-key encryption (libsodium ``crypto_box_seal``, X25519 and
XSalsa20-Poly1305).

Anyone holding a public key can seal; only the private half opens. Agencies' answers are
sealed to the hub's box key the moment they arrive, so the code that receives them never
needs the private key (DESIGN.md, "Encrypted at rest"); a request's signed document is
sealed to an agency's own box key when the directory lists one.
"""

from __future__ import annotations

from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox

from hub.crypto.keys import KeyRing


class BoxOpenError(Exception):
    """A sealed box failed to open: altered or truncated, or sealed to another key."""


def seal_to(public_key: bytes, plaintext: bytes) -> bytes:
    """``plaintext`` sealed to the holder of the X25519 ``public_key`` (32 bytes)."""
    return bytes(SealedBox(PublicKey(public_key)).encrypt(plaintext))


def seal_to_hub(ring: KeyRing, plaintext: bytes) -> bytes:
    """``plaintext`` sealed to the public half of the hub's active box key."""
    return bytes(SealedBox(ring.box_key.public_key).encrypt(plaintext))


def open_sealed(ring: KeyRing, sealed: bytes) -> bytes:
    """The plaintext of a box sealed to the hub's active box key; :class:`BoxOpenError`
    when it does not open (the MAC fails), so nothing of an altered box is returned."""
    try:
        return bytes(SealedBox(ring.box_key).decrypt(sealed))
    except CryptoError:
        raise BoxOpenError("sealed box failed its integrity check (altered?)") from None
