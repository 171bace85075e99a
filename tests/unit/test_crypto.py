"""Keys and sealing: every good path has a wrong-key twin that must fail."""

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.crypto import keys
from hub.crypto.boxes import BoxOpenError, open_sealed, seal_to, seal_to_hub, sealed_with
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
    with pytest.raises(BoxOpenError, match="does not have"):
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


# --- rotation (STYLE.md habit 12: sealed values say which key sealed them) ---------------

T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def test_rotating_each_kind_adds_a_0600_key_named_by_fingerprint_and_dates_both(
    tmp_path: Path,
) -> None:
    first = keys.generate(tmp_path, now=T0)
    for kind in keys.KINDS:
        new = keys.rotate(tmp_path, kind, T0 + timedelta(days=1))
        assert (tmp_path / f"{kind}-{new}.key").stat().st_mode & 0o777 == 0o600
        ring = keys.load(tmp_path)
        assert ring.active[kind] == new and set(ring.keys[kind]) == {first[kind], new}
        old, current = ring.get(kind, first[kind]), ring.current(kind)
        assert (old.valid_from, old.valid_until) == ("2026-03-12T09:00:00Z", "2026-03-13T09:00:00Z")
        assert (current.valid_from, current.valid_until) == ("2026-03-13T09:00:00Z", None)
        assert [k.fingerprint for k in ring.all(kind)] == [new, first[kind]]
    for name in ("active.json", "validity.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    with pytest.raises(keys.KeyFileError, match="unknown key kind"):
        keys.rotate(tmp_path, "paper", T0)


def test_a_box_sealed_to_the_hub_names_its_key_and_opens_after_a_box_rotation(
    tmp_path: Path,
) -> None:
    keys.generate(tmp_path / "hub")
    before = keys.load(tmp_path / "hub")
    sealed = seal_to_hub(before, b"answer before rotation")
    assert sealed_with(sealed) == before.active["box"]
    keys.rotate(tmp_path / "hub", "box", T0)
    after = keys.load(tmp_path / "hub")
    assert sealed_with(seal_to_hub(after, b"x")) == after.active["box"] != before.active["box"]
    assert open_sealed(after, sealed) == b"answer before rotation"
    # Wrong-key twin: the same hub without the old box key cannot open it.
    (tmp_path / "hub" / f"box-{before.active['box']}.key").unlink()
    with pytest.raises(BoxOpenError, match="does not have"):
        open_sealed(keys.load(tmp_path / "hub"), sealed)


def test_a_bare_answer_from_before_key_names_opens_with_any_of_the_hubs_box_keys(
    tmp_path: Path,
) -> None:
    keys.generate(tmp_path / "hub")
    keys.generate(tmp_path / "other")
    before = keys.load(tmp_path / "hub")
    # An answer stored before this change: a bare sealed box, no fingerprint in front.
    bare = seal_to(bytes(before.box_key.public_key), b'{"text":"old"}')
    assert sealed_with(bare) is None
    keys.rotate(tmp_path / "hub", "box", T0)
    assert open_sealed(keys.load(tmp_path / "hub"), bare) == b'{"text":"old"}'
    # Wrong-key twin: another hub's keys, current or not, open nothing of it.
    with pytest.raises(BoxOpenError, match="every box key"):
        open_sealed(keys.load(tmp_path / "other"), bare)


def test_reseal_moves_a_value_to_the_current_data_key(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    old_ring = keys.load(tmp_path)
    old = Sealer(old_ring).seal(b"Emma Clarke")
    keys.rotate(tmp_path, "data", T0)
    sealer = Sealer(keys.load(tmp_path))
    moved = sealer.reseal(old)
    assert moved.startswith(sealer.prefix) and not old.startswith(sealer.prefix)
    assert sealer.reseal(moved) is moved  # already current: untouched
    (tmp_path / f"data-{old_ring.active['data']}.key").unlink()
    assert Sealer(keys.load(tmp_path)).open(moved) == b"Emma Clarke"
    # Wrong-key twin: without the old key the value sealed before cannot be opened.
    with pytest.raises(SealError, match="does not have"):
        Sealer(keys.load(tmp_path)).reseal(old)


def test_an_indexer_for_a_named_key_matches_that_key_only(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    old = keys.load(tmp_path).active["index"]
    keys.rotate(tmp_path, "index", T0)
    ring = keys.load(tmp_path)
    assert Indexer(ring, old).blind("identity", "x") != Indexer(ring).blind("identity", "x")
    assert Indexer(ring, old).fingerprint == old
    assert "secret" not in repr(Indexer(ring)) and old not in repr(Indexer(ring))
    with pytest.raises(keys.KeyFileError, match="no index key"):
        Indexer(ring, "0" * 16)
