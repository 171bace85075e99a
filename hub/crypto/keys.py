"""The hub's keys: generated once, kept in a 0600 key directory, each named by fingerprint.

Kinds:
- ``signing``: Ed25519, signs every request the hub sends (public half published);
- ``box``: X25519, agencies' answers are sealed to its public half on arrival;
- ``data``: a 256-bit SecretBox key for personal data at rest (raw mail, MEs, outbox);
- ``index``: a 256-bit key for blind indexes (keyed hashes of normalised names);
- ``token``: a 256-bit key for capability tokens (link tokens, reply-address MACs).

``keys/active.json`` names the fingerprint in use for each kind; older files stay so that
what they sealed can still be opened (rotation adds a key, it never deletes one).
``keys/validity.json`` records when each key became current and when it was replaced
(``keys.json`` publishes it for the signing keys); a key made before that file existed
is dated by its file's modification time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.public import PrivateKey
from nacl.signing import SigningKey
from nacl.utils import random as random_bytes

KINDS = ("signing", "box", "data", "index", "token")
ACTIVE = "active.json"
VALIDITY = "validity.json"


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
    # When the key became current and when another replaced it (ISO 8601, UTC, "Z");
    # None when not known (from) or still current (until).
    valid_from: str | None = None
    valid_until: str | None = None


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

    def all(self, kind: str) -> list[Key]:
        """Every key of ``kind``, the current one first, then the newest older ones."""
        current = self.current(kind)
        older = (k for k in self.keys[kind].values() if k.fingerprint != current.fingerprint)
        return [
            current,
            *sorted(older, key=lambda k: (k.valid_from or "", k.fingerprint), reverse=True),
        ]

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.current("signing").secret)

    @property
    def box_key(self) -> PrivateKey:
        return PrivateKey(self.current("box").secret)


def iso_z(when: datetime) -> str:
    """``when`` as an ISO 8601 UTC time to the second, as ``keys.json`` shows it."""
    if when.tzinfo is None:
        raise ValueError("key validity times must be timezone-aware")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.hex().encode() + b"\n")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    value = json.loads(path.read_text())
    if not isinstance(value, dict):
        raise KeyFileError(f"{path.name} is not a JSON object")
    return value


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Replace ``path`` atomically with a 0600 file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def add(key_dir: Path, kind: str) -> str:
    """Write a fresh key of ``kind`` without making it current. Returns its fingerprint."""
    if kind not in KINDS:
        raise KeyFileError(f"unknown key kind {kind!r} (one of {', '.join(KINDS)})")
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    secret = random_bytes(32)
    fp = fingerprint(kind, _public_material(kind, secret))
    _write_secret(key_dir / f"{kind}-{fp}.key", secret)
    return fp


def activate(key_dir: Path, kind: str, fp: str, now: datetime | None = None) -> str | None:
    """Make key ``fp`` the current one of its kind; the one it replaces stays for reading.

    With ``now``, the validity file records the switch (the old key valid until ``now``,
    the new one from ``now``). Returns the fingerprint replaced, if any.
    """
    if not (key_dir / f"{kind}-{fp}.key").exists():
        raise KeyFileError(f"no {kind} key with fingerprint {fp} in {key_dir}")
    active = _read_json(key_dir / ACTIVE)
    replaced = active.get(kind)
    if now is not None:
        validity = _read_json(key_dir / VALIDITY)
        if replaced and replaced != fp:
            validity.setdefault(f"{kind}-{replaced}", {})["until"] = iso_z(now)
        validity[f"{kind}-{fp}"] = {"from": iso_z(now)}
        _write_json(key_dir / VALIDITY, validity)
    active[kind] = fp
    _write_json(key_dir / ACTIVE, active)
    return replaced if isinstance(replaced, str) and replaced != fp else None


def rotate(key_dir: Path, kind: str, now: datetime) -> str:
    """A new current key of ``kind``; the old ones stay for reading. Its fingerprint."""
    fp = add(key_dir, kind)
    activate(key_dir, kind, fp, now)
    return fp


def generate(
    key_dir: Path, kinds: tuple[str, ...] = KINDS, now: datetime | None = None
) -> dict[str, str]:
    """Create a fresh key of each kind and make it active. Returns kind -> fingerprint."""
    made: dict[str, str] = {}
    for kind in kinds:
        made[kind] = add(key_dir, kind)
        activate(key_dir, kind, made[kind], now)
    return made


def ensure(key_dir: Path, now: datetime | None = None) -> dict[str, str]:
    """Generate the kinds that have no active key yet; leave existing keys alone."""
    active: dict[str, str] = _read_json(key_dir / ACTIVE)
    missing = tuple(k for k in KINDS if k not in active)
    if missing:
        active.update(generate(key_dir, missing, now))
    return active


def active_on_disk(key_dir: Path) -> dict[str, str]:
    """Which key of each kind ``active.json`` names now (a process may have loaded others
    before a rotation)."""
    return {k: v for k, v in _read_json(key_dir / ACTIVE).items() if isinstance(v, str)}


def _read_key(path: Path, kind: str, fp: str, validity: dict[str, Any]) -> Key:
    secret = bytes.fromhex(path.read_text().strip())
    if fingerprint(kind, _public_material(kind, secret)) != fp:
        raise KeyFileError(f"{path.name} does not match its fingerprint")
    dates = validity.get(path.stem) or {}
    since = dates.get("from") or iso_z(datetime.fromtimestamp(path.stat().st_mtime, UTC))
    return Key(kind, fp, secret, since, dates.get("until"))


def load(key_dir: Path) -> KeyRing:
    """Read every key file; refuse group- or world-readable ones."""
    if not (key_dir / ACTIVE).exists():
        raise KeyFileError(f"no keys in {key_dir}: run `marrac-hub init` first")
    active = _read_json(key_dir / ACTIVE)
    validity = _read_json(key_dir / VALIDITY)
    keys: dict[str, dict[str, Key]] = {kind: {} for kind in KINDS}
    for path in sorted(key_dir.glob("*.key")):
        if path.stat().st_mode & 0o077:
            raise KeyFileError(f"{path.name} is readable by others: chmod 600 it")
        kind, _, fp = path.stem.partition("-")
        if kind in keys:
            keys[kind][fp] = _read_key(path, kind, fp, validity)
    for kind in KINDS:
        if active.get(kind) not in keys[kind]:
            raise KeyFileError(f"active {kind} key is missing from {key_dir}")
    return KeyRing(keys=keys, active=active)
