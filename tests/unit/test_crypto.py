"""Keys and sealing: every good path has a wrong-key twin that must fail."""

import os
from pathlib import Path

import pytest

from hub.crypto import keys
from hub.crypto.boxes import BoxOpenError, open_sealed, seal_to, seal_to_hub
from hub.crypto.indexes import Indexer
from hub.crypto.sealing import Sealer, SealError


def test_keys_are_generated_0600_in_a_0700_directory_named_by_fingerprint(tmp_path: Path) -> None:
    made = keys.generate(tmp_path / "keys")
    assert set(made) == set(keys.KINDS)
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    for kind, fp in made.items():
        path = tmp_path / "keys" / f"{kind}-{fp}.key"
        assert path.stat().st_mode & 0o777 == 0o600
    ring = keys.load(tmp_path / "keys")
    assert ring.current("signing").fingerprint == made["signing"]


def test_ensure_keeps_existing_keys(tmp_path: Path) -> None:
    first = keys.ensure(tmp_path)
    assert keys.ensure(tmp_path) == first


def test_a_world_readable_key_is_refused(tmp_path: Path) -> None:
    made = keys.generate(tmp_path)
    os.chmod(tmp_path / f"data-{made['data']}.key", 0o644)
    with pytest.raises(keys.KeyFileError, match="readable by others"):
        keys.load(tmp_path)


def test_sealed_values_open_with_the_right_key_only(tmp_path: Path) -> None:
    keys.generate(tmp_path / "a")
    keys.generate(tmp_path / "b")
    mine, theirs = Sealer(keys.load(tmp_path / "a")), Sealer(keys.load(tmp_path / "b"))
    sealed = mine.seal(b"Emma Clarke")
    assert b"Emma" not in sealed
    assert mine.open(sealed) == b"Emma Clarke"
    with pytest.raises(SealError, match=r"unknown key|does not have"):
        theirs.open(sealed)


def test_an_altered_ciphertext_fails_with_a_clear_error(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    sealer = Sealer(keys.load(tmp_path))
    sealed = bytearray(sealer.seal(b"secret"))
    sealed[-1] ^= 1
    with pytest.raises(SealError, match="integrity"):
        sealer.open(bytes(sealed))
    with pytest.raises(SealError, match="truncated"):
        sealer.open(b"s1short")


def test_rotation_keeps_old_values_readable(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    old = Sealer(keys.load(tmp_path)).seal(b"before rotation")
    keys.generate(tmp_path, ("data",))
    assert Sealer(keys.load(tmp_path)).open(old) == b"before rotation"


def test_blind_indexes_are_keyed_and_separated_by_purpose(tmp_path: Path) -> None:
    keys.generate(tmp_path / "a")
    keys.generate(tmp_path / "b")
    a, b = Indexer(keys.load(tmp_path / "a")), Indexer(keys.load(tmp_path / "b"))
    assert a.blind("identity", "x") == a.blind("identity", "x")
    assert a.blind("identity", "x") != b.blind("identity", "x")
    assert a.blind("identity", "x") != a.blind("recipient", "x")


def test_answers_sealed_to_the_hub_open_with_its_box_key_only(tmp_path: Path) -> None:
    keys.generate(tmp_path / "a")
    keys.generate(tmp_path / "b")
    mine, theirs = keys.load(tmp_path / "a"), keys.load(tmp_path / "b")
    sealed = seal_to_hub(mine, b'{"text":"known to us"}')
    assert b"known" not in sealed
    assert open_sealed(mine, sealed) == b'{"text":"known to us"}'
    with pytest.raises(BoxOpenError, match="integrity"):
        open_sealed(theirs, sealed)


def test_an_altered_sealed_box_fails_to_open(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    ring = keys.load(tmp_path)
    sealed = bytearray(seal_to_hub(ring, b"answer"))
    sealed[-1] ^= 1
    with pytest.raises(BoxOpenError):
        open_sealed(ring, bytes(sealed))


def test_a_box_sealed_to_a_public_key_opens_with_its_private_half(tmp_path: Path) -> None:
    keys.generate(tmp_path / "agency")
    keys.generate(tmp_path / "hub")
    agency, hub = keys.load(tmp_path / "agency"), keys.load(tmp_path / "hub")
    sealed = seal_to(bytes(agency.box_key.public_key), b"the signed request")
    assert open_sealed(agency, sealed) == b"the signed request"
    with pytest.raises(BoxOpenError):
        open_sealed(hub, sealed)
