"""Sealed boxes: anonymous public-key encryption (libsodium ``crypto_box_seal``, X25519 and
XSalsa20-Poly1305).

Anyone holding a public key can seal; only the private half opens. Agencies' answers are
sealed to the hub's box key the moment they arrive, so the code that receives them never
needs the private key (DESIGN.md, "Encrypted at rest"); a request's signed document is
sealed to an agency's own box key when the directory lists one.

A box sealed to the hub is ``b"b1" + box key fingerprint (16 ASCII hex) + sealed box``
(STYLE.md habit 12), so after ``keys rotate box`` every earlier answer still opens with the
key it was sealed to. Answers stored before the prefix existed are bare sealed boxes: they
are opened by trying each of the hub's box keys, the current one first (a box that opens
is authentic, so trying keys in turn cannot mix answers up). Boxes sealed to an agency's
key (:func:`seal_to`) stay bare: the agency opens them with any libsodium.
"""

from __future__ import annotations

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from hub.crypto.keys import KeyRing

MAGIC = b"b1"
_HEADER = len(MAGIC) + 16
_OVERHEAD = 32 + 16  # the ephemeral public key and the MAC of crypto_box_seal


class BoxOpenError(Exception):
    """A sealed box failed to open: altered or truncated, or sealed to another key."""


def seal_to(public_key: bytes, plaintext: bytes) -> bytes:
    """``plaintext`` sealed to the holder of the X25519 ``public_key`` (32 bytes)."""
    return bytes(SealedBox(PublicKey(public_key)).encrypt(plaintext))


def seal_to_hub(ring: KeyRing, plaintext: bytes) -> bytes:
    """``plaintext`` sealed to the public half of the hub's current box key, prefixed with
    that key's fingerprint."""
    key = ring.current("box")
    box = SealedBox(PrivateKey(key.secret).public_key)
    return MAGIC + key.fingerprint.encode("ascii") + bytes(box.encrypt(plaintext))


def sealed_with(sealed: bytes) -> str | None:
    """The fingerprint of the box key a value names, or None for a bare (older) box."""
    if len(sealed) < _HEADER + _OVERHEAD or not sealed.startswith(MAGIC):
        return None
    fp = bytes(sealed[len(MAGIC) : _HEADER])
    if not all(c in b"0123456789abcdef" for c in fp):
        return None
    return fp.decode("ascii")


def _open(secret: bytes, sealed: bytes) -> bytes | None:
    try:
        return bytes(SealedBox(PrivateKey(secret)).decrypt(sealed))
    except CryptoError:
        return None


def open_sealed(ring: KeyRing, sealed: bytes) -> bytes:
    """The plaintext of a box sealed to one of the hub's box keys; :class:`BoxOpenError`
    when it does not open (the MAC fails, or the key is not this hub's), so nothing of an
    altered box is returned."""
    fp = sealed_with(sealed)
    if fp is not None and fp in ring.keys["box"]:
        opened = _open(ring.keys["box"][fp].secret, bytes(sealed[_HEADER:]))
        if opened is None:
            raise BoxOpenError(f"sealed box failed its integrity check (altered?), key {fp}")
        return opened
    # A bare box from before fingerprints were written (or, with odds of about 2**-80,
    # one whose random first bytes look like a header): try every key we hold.
    for key in ring.all("box"):
        opened = _open(key.secret, sealed)
        if opened is not None:
            return opened
    if fp is not None:
        raise BoxOpenError(f"sealed to box key {fp}, which this hub does not have")
    raise BoxOpenError("sealed box failed its integrity check (altered?) under every box key")
