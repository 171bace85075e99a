"""The hub's keys: generated once, kept in a 0600 key directory, each named by fingerprint.

Kinds:
- ``signing``: Ed25519, signs every request the hub sends (public half published);
- ``box``: X25519, agencies' answers are sealed to its public half on arrival;
- ``data``: a 256-bit SecretBox key for personal data at rest (raw mail, MEs, outbox);
- ``index``: a 256-bit key for blind indexes (keyed hashes of normalised names);
- ``token``: a 256-bit key for capability tokens (link tokens, reply-address MACs).

``keys/active.json`` names the fingerprint in use for each kind; older files stay so that
what they sealed can still be opened (rotation adds a key, it never deletes one).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey
from nacl.utils import random as random_bytes

KINDS = ("signing", "box", "data", "index", "token")


class KeyFileError(Exception):
    """A key is missing, unreadable or has unsafe permissions."""


def fingerprint(kind: str, material: bytes) -> str:
    """A short stable name for a key: for public keys their hash, for secret ones a
    keyed hash that reveals nothing about the key."""
    if kind in ("signing", "box"):
        digest = hashlib.sha256(material).hexdigest()
    else:
        digest = hashlib.blake2b(material, person=b"marrac-hub-kid", digest_size=32).hexdigest()
    return digest[:16]


def _public_material(kind: str, secret: bytes) -> bytes:
    if kind == "signing":
        return bytes(SigningKey(secret).verify_key)
    if kind == "box":
        return bytes(PrivateKey(secret).public_key)
    return secret


@dataclass(frozen=True)
class Key:
    kind: str
    fingerprint: str
    secret: bytes


@dataclass(frozen=True)
class KeyRing:
    """All keys, by kind and fingerprint, with one active key per kind."""

    keys: dict[str, dict[str, Key]]
    active: dict[str, str]

    def current(self, kind: str) -> Key:
        return self.keys[kind][self.active[kind]]

    def get(self, kind: str, fp: str) -> Key:
        try:
            return self.keys[kind][fp]
        except KeyError:
            raise KeyFileError(f"no {kind} key with fingerprint {fp}") from None

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.current("signing").secret)

    @property
    def box_key(self) -> PrivateKey:
        return PrivateKey(self.current("box").secret)


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.hex().encode() + b"\n")


def generate(key_dir: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, str]:
    """Create a fresh key of each kind and make it active. Returns kind -> fingerprint."""
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    active_path = key_dir / "active.json"
    active: dict[str, str] = json.loads(active_path.read_text()) if active_path.exists() else {}
    made: dict[str, str] = {}
    for kind in kinds:
        secret = random_bytes(32)
        fp = fingerprint(kind, _public_material(kind, secret))
        _write_secret(key_dir / f"{kind}-{fp}.key", secret)
        active[kind] = fp
        made[kind] = fp
    tmp = key_dir / "active.json.tmp"
    tmp.write_text(json.dumps(active, indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, active_path)
    return made


def ensure(key_dir: Path) -> dict[str, str]:
    """Generate the kinds that have no active key yet; leave existing keys alone."""
    active_path = key_dir / "active.json"
    active: dict[str, str] = json.loads(active_path.read_text()) if active_path.exists() else {}
    missing = tuple(k for k in KINDS if k not in active)
    if missing:
        active.update(generate(key_dir, missing))
    return active


def load(key_dir: Path) -> KeyRing:
    """Read every key file; refuse group- or world-readable ones."""
    active_path = key_dir / "active.json"
    if not active_path.exists():
        raise KeyFileError(f"no keys in {key_dir}: run `marrac-hub init` first")
    active = json.loads(active_path.read_text())
    keys: dict[str, dict[str, Key]] = {kind: {} for kind in KINDS}
    for path in sorted(key_dir.glob("*.key")):
        if path.stat().st_mode & 0o077:
            raise KeyFileError(f"{path.name} is readable by others: chmod 600 it")
        kind, _, fp = path.stem.partition("-")
        if kind not in keys:
            continue
        secret = bytes.fromhex(path.read_text().strip())
        if fingerprint(kind, _public_material(kind, secret)) != fp:
            raise KeyFileError(f"{path.name} does not match its fingerprint")
        keys[kind][fp] = Key(kind, fp, secret)
    for kind in KINDS:
        if active.get(kind) not in keys[kind]:
            raise KeyFileError(f"active {kind} key is missing from {key_dir}")
    return KeyRing(keys=keys, active=active)
