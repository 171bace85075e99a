"""Canonical JSON (RFC 8785) and signed envelopes: every good path has a failing twin."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from hub.crypto import keys
from hub.crypto.signing import (
    CanonicalizationError,
    SignatureError,
    SignatureInvalid,
    UnknownKey,
    canonicalize,
    key_id,
    public_keys_document,
    sign_document,
    trusted_keys,
    verify_document,
)

# --- RFC 8785 vectors --------------------------------------------------------------------


def test_rfc8785_sorts_members_by_utf16_code_units() -> None:
    # RFC 8785 3.2.3. The emoji's high surrogate (U+D83D) sorts before U+FB33 in UTF-16,
    # though its code point (U+1F600) is larger: code-point order would get this wrong.
    given = json.loads(
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", '
        '"\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", '
        '"\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", '
        '"\\u00f6": "Latin Small Letter O With Diaeresis"}'
    )
    canonical = canonicalize(given).decode("utf-8")
    assert [value for value in json.loads(canonical).values()] == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    assert canonical.startswith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"')


def test_rfc8785_string_escaping_and_literals() -> None:
    # RFC 8785 3.2.2 (the example without its floating-point numbers).
    given = json.loads(
        '{"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert canonicalize(given) == expected.encode("utf-8")


def test_cyberphone_weird_vector_keeps_del_and_controls_above_0x7f_literal() -> None:
    # cyberphone/json-canonicalization testdata weird.json
    given = json.loads(
        '{"\\u20ac": "Euro Sign", "1": "One", "\\u0080": "Control\\u007f", '
        '"\\ud83d\\ude02": "Smiley", "\\u00f6": "Latin Small Letter O With Diaeresis", '
        '"\\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}'
    )
    expected = (
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonicalize(given) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # cyberphone testdata arrays.json
        ('[56, {"d": true, "10": null, "1": [ ]}]', '[56,{"1":[],"10":null,"d":true}]'),
        # cyberphone testdata structures.json (56.0 written as 56: the hub signs no floats)
        (
            '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56}, "10": { }, "": "empty",'
            ' "a": { }, "111": [ { } ], "A": { }}',
            '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
        ),
        # cyberphone testdata french.json: locale plays no part in the order
        (
            '{"peach": "This sorting order", "péché": "is wrong according to French",'
            ' "pêche": "but canonicalization MUST", "sin": "ingnore locale"}',
            '{"peach":"This sorting order","péché":"is wrong according to French",'
            '"pêche":"but canonicalization MUST","sin":"ingnore locale"}',
        ),
        # cyberphone testdata unicode.json: no Unicode normalisation
        ('{"Unnormalized Unicode": "\\u1e0d\\u0307"}', '{"Unnormalized Unicode":"\u1e0d\u0307"}'),
        ('"this is a test string 1235"', '"this is a test string 1235"'),
    ],
)
def test_jcs_reference_vectors(given: str, expected: str) -> None:
    assert canonicalize(json.loads(given)) == expected.encode("utf-8")


def test_simple_string_vector_bytes() -> None:
    # cyberphone testdata outhex/simpleString.txt
    hexed = "22 74 68 69 73 20 69 73 20 61 20 74 65 73 74 20 73 74 72 69 6E 67 20 31 32 33 35 22"
    assert canonicalize("this is a test string 1235") == bytes.fromhex(hexed)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-1, b"-1"),
        (9007199254740991, b"9007199254740991"),
        (-9007199254740991, b"-9007199254740991"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
        ((1, "a"), b'[1,"a"]'),
        ({}, b"{}"),
        ([], b"[]"),
        ("\x00\x1f\x7f", b'"\\u0000\\u001f\x7f"'),
        ("\b\f\n\r\t", b'"\\b\\f\\n\\r\\t"'),
        ("/<>&'", b'"/<>&\'"'),
    ],
)
def test_scalars_serialise_as_jcs_does(value: object, expected: bytes) -> None:
    assert canonicalize(value) == expected


def test_bools_are_json_literals_not_the_integers_python_thinks_they_are() -> None:
    assert canonicalize({"a": True, "b": 1}) == b'{"a":true,"b":1}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, r"\$: float 1.5 refused"),
        (1.0, "float"),
        ({"score": float("nan")}, r"\$\.score: non-finite"),
        ([float("inf")], r"\$\[0\]: non-finite"),
        (2**53, "safe range"),
        (-(2**53), "safe range"),
        ({1: "a"}, "not a string"),
        ({"when": object()}, r"\$\.when: object is not a JSON type"),
        ({"b": b"bytes"}, "bytes is not a JSON type"),
        ({"s": {1, 2}}, "set is not a JSON type"),
        ("\ud800", "unpaired surrogate"),
        ({"\udc00": 1}, "unpaired surrogate"),
    ],
)
def test_what_the_hub_never_signs_is_refused_with_where_it_was(value: object, message: str) -> None:
    with pytest.raises(CanonicalizationError, match=message):
        canonicalize(value)


def test_canonical_form_does_not_depend_on_insertion_order_or_whitespace() -> None:
    a = json.loads('{ "b" : [1, 2], "a" : {"y": null, "x": "é"} }')
    b = {"a": {"x": "é", "y": None}, "b": [1, 2]}
    assert canonicalize(a) == canonicalize(b) == '{"a":{"x":"é","y":null},"b":[1,2]}'.encode()


# --- signing -----------------------------------------------------------------------------

DOCUMENT: dict[str, Any] = {
    "type": "marrac-hub/information-request",
    "reference": "RQ-2026-000042",
    "agency": "st-aidans-primary",
    "persons": [{"role": "child", "name": "Lily Clarke", "date_of_birth": "2018-05-02"}],
    "questions": [{"id": "q1", "text": "Is the child known to you?"}],
    "version": 1,
    "due_at": "2026-03-19T09:00:00Z",
}


@pytest.fixture
def signer() -> tuple[SigningKey, str, dict[str, bytes]]:
    key = SigningKey.generate()
    public = bytes(key.verify_key)
    kid = key_id(public)
    return key, kid, {kid: public}


def test_a_signed_document_verifies_and_round_trips_through_json(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    key, kid, trusted = signer
    envelope = sign_document(DOCUMENT, key, kid)
    assert envelope["signature"]["alg"] == "Ed25519"
    assert envelope["signature"]["kid"] == kid
    assert "=" not in envelope["signature"]["sig"]
    wire = json.dumps(envelope, indent=2, ensure_ascii=True)  # any spacing, any escapes
    assert verify_document(json.loads(wire), trusted) == DOCUMENT


def test_the_signature_covers_exactly_the_canonical_document(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    # An outside verifier needs only JCS and Ed25519: nothing is prepended.
    key, kid, _ = signer
    envelope = sign_document(DOCUMENT, key, kid)
    sig = base64.urlsafe_b64decode(envelope["signature"]["sig"] + "==")
    key.verify_key.verify(canonicalize(DOCUMENT), sig)


def test_the_envelope_holds_a_copy_so_later_edits_do_not_leak_in(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    key, kid, trusted = signer
    document = copy.deepcopy(DOCUMENT)
    envelope = sign_document(document, key, kid)
    document["agency"] = "someone-else"
    assert verify_document(envelope, trusted)["agency"] == "st-aidans-primary"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(agency="evil-agency"),
        lambda d: d["persons"][0].update(name="Someone Else"),
        lambda d: d["questions"].append({"id": "q2", "text": "Everything please"}),
        lambda d: d.pop("due_at"),
        lambda d: d.update(version=2),
        lambda d: d.update(extra=None),
    ],
)
def test_a_modified_document_fails(
    signer: tuple[SigningKey, str, dict[str, bytes]], tamper: Any
) -> None:
    key, kid, trusted = signer
    envelope = sign_document(DOCUMENT, key, kid)
    tamper(envelope["document"])
    with pytest.raises(SignatureInvalid, match="does not match the document"):
        verify_document(envelope, trusted)


def _flip(sig: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    ch = alphabet[(alphabet.index(sig[index]) + 1) % 64]
    return sig[:index] + ch + sig[index + 1 :]


@pytest.mark.parametrize("index", [0, 10, 42, 84, 85])
def test_a_modified_signature_fails(
    signer: tuple[SigningKey, str, dict[str, bytes]], index: int
) -> None:
    # index 85 is the last character, whose low 4 bits are padding: changing only those
    # would decode to the same bytes, so non-canonical base64url is refused outright.
    key, kid, trusted = signer
    envelope = sign_document(DOCUMENT, key, kid)
    envelope["signature"]["sig"] = _flip(envelope["signature"]["sig"], index)
    with pytest.raises(SignatureInvalid):
        verify_document(envelope, trusted)


def test_non_canonical_base64_of_a_good_signature_is_refused(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    key, kid, trusted = signer
    envelope = sign_document(DOCUMENT, key, kid)
    sig = envelope["signature"]["sig"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The last character carries 2 meaningful bits and 4 zero padding bits; setting a
    # padding bit spells the very same 64 bytes differently.
    respelled = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 0b0001]
    assert respelled != sig
    assert base64.urlsafe_b64decode(respelled + "==") == base64.urlsafe_b64decode(sig + "==")
    envelope["signature"]["sig"] = respelled
    with pytest.raises(SignatureInvalid, match="canonical base64url"):
        verify_document(envelope, trusted)


def test_a_signature_by_another_key_under_the_same_kid_fails(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    _, kid, trusted = signer
    impostor = SigningKey.generate()
    envelope = sign_document(DOCUMENT, impostor, kid)
    with pytest.raises(SignatureInvalid, match="altered or forged"):
        verify_document(envelope, trusted)


def test_a_good_signature_checked_against_the_wrong_key_fails(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    key, kid, _ = signer
    other = bytes(SigningKey.generate().verify_key)
    envelope = sign_document(DOCUMENT, key, kid)
    with pytest.raises(SignatureInvalid):
        verify_document(envelope, {kid: other})


def test_an_unknown_kid_fails_as_unknown_key(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    key, _kid, trusted = signer
    envelope = sign_document(DOCUMENT, key, "0123456789abcdef")
    with pytest.raises(UnknownKey, match="unknown key '0123456789abcdef'"):
        verify_document(envelope, trusted)
    assert issubclass(UnknownKey, SignatureError)
    assert issubclass(SignatureInvalid, SignatureError)


def test_swapping_the_kid_to_another_trusted_key_fails(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    key, kid, trusted = signer
    other = bytes(SigningKey.generate().verify_key)
    trusted = {**trusted, key_id(other): other}
    envelope = sign_document(DOCUMENT, key, kid)
    envelope["signature"]["kid"] = key_id(other)
    with pytest.raises(SignatureInvalid):
        verify_document(envelope, trusted)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda e: e.pop("signature"), "no signature"),
        (lambda e: e.update(document=[1]), "no document"),
        (lambda e: e.update(extra=1), "unexpected members: extra"),
        (lambda e: e["signature"].update(alg="none"), "unsupported signature algorithm 'none'"),
        (lambda e: e["signature"].update(alg="EdDSA"), "unsupported"),
        (lambda e: e["signature"].pop("kid"), "no key id"),
        (lambda e: e["signature"].update(sig=None), "unpadded base64url"),
        (lambda e: e["signature"].update(sig=e["signature"]["sig"] + "=="), "unpadded"),
        (lambda e: e["signature"].update(sig=e["signature"]["sig"][:-1]), "unpadded"),
        (lambda e: e["signature"].update(sig="+" * 86), "unpadded"),
        (lambda e: e["document"].update(score=1.5), "not canonical JSON"),
    ],
)
def test_malformed_envelopes_are_invalid_with_a_clear_message(
    signer: tuple[SigningKey, str, dict[str, bytes]], mangle: Any, message: str
) -> None:
    key, kid, trusted = signer
    envelope = sign_document(DOCUMENT, key, kid)
    mangle(envelope)
    with pytest.raises(SignatureInvalid, match=message):
        verify_document(envelope, trusted)


def test_an_envelope_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(SignatureInvalid, match="not a JSON object"):
        verify_document([], {})  # type: ignore[arg-type]


def test_signing_a_document_with_floats_is_refused(
    signer: tuple[SigningKey, str, dict[str, bytes]],
) -> None:
    key, kid, _ = signer
    with pytest.raises(CanonicalizationError, match="float"):
        sign_document({"risk": 0.75}, key, kid)


# --- keys --------------------------------------------------------------------------------


def test_key_id_is_the_key_directory_fingerprint() -> None:
    public = bytes(SigningKey.generate().verify_key)
    assert key_id(public) == keys.fingerprint("signing", public)
    assert len(key_id(public)) == 16
    with pytest.raises(ValueError, match="32 bytes"):
        key_id(public[:31])


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_published_keys_list_every_signing_key_and_the_active_box_key(
    tmp_path: Path,
) -> None:
    keys.generate(tmp_path)
    old_ring = keys.load(tmp_path)
    old_envelope = sign_document(DOCUMENT, old_ring.signing_key, old_ring.active["signing"])
    keys.generate(tmp_path, ("signing", "box"))  # rotate
    ring = keys.load(tmp_path)

    published = public_keys_document(ring)
    json.dumps(published)  # plain JSON
    canonicalize(published)  # and signable
    signing = [k for k in published["keys"] if k["alg"] == "Ed25519"]
    boxes = [k for k in published["keys"] if k["alg"] == "X25519"]
    assert {k["kid"] for k in signing} == set(ring.keys["signing"])
    assert [k["kid"] for k in signing if k["active"]] == [ring.active["signing"]]
    assert signing[0]["active"]  # the active key comes first
    assert len(boxes) == 1 and boxes[0]["kid"] == ring.active["box"] and boxes[0]["active"]
    assert _b64url_decode(boxes[0]["public_key"]) == bytes(ring.box_key.public_key)
    for entry in published["keys"]:
        assert "secret" not in json.dumps(entry)
        assert len(_b64url_decode(entry["public_key"])) == 32

    # A request signed before the rotation still verifies against what is published.
    trusted = {k["kid"]: _b64url_decode(k["public_key"]) for k in signing}
    assert verify_document(old_envelope, trusted) == DOCUMENT
    # The box kid is named the way the key directory names it.
    box_public = bytes(PrivateKey(ring.current("box").secret).public_key)
    assert boxes[0]["kid"] == keys.fingerprint("box", box_public)


def test_trusted_keys_reads_every_signing_key_of_a_published_document(tmp_path: Path) -> None:
    keys.generate(tmp_path)
    old_ring = keys.load(tmp_path)
    old_envelope = sign_document(DOCUMENT, old_ring.signing_key, old_ring.active["signing"])
    keys.generate(tmp_path, ("signing", "box"))  # rotate
    ring = keys.load(tmp_path)
    published = json.loads(json.dumps(public_keys_document(ring)))  # as read from keys.json

    trusted = trusted_keys(published)

    assert set(trusted) == set(ring.keys["signing"])  # the box key is not a signing key
    assert verify_document(old_envelope, trusted) == DOCUMENT
    # Wrong-key twin: a document listing only another hub's key verifies nothing of ours.
    other = keys.generate(tmp_path / "other")
    stranger = trusted_keys(public_keys_document(keys.load(tmp_path / "other")))
    assert set(stranger) == {other["signing"]}
    with pytest.raises(UnknownKey):
        verify_document(old_envelope, stranger)


def test_keys_json_dates_the_current_and_previous_signing_keys(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    first = keys.generate(tmp_path, now=datetime(2026, 1, 5, 8, 0, tzinfo=UTC))["signing"]
    old_ring = keys.load(tmp_path)
    old_envelope = sign_document(DOCUMENT, old_ring.signing_key, first)
    second = keys.rotate(tmp_path, "signing", datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    third = keys.rotate(tmp_path, "signing", datetime(2026, 4, 1, 12, 0, tzinfo=UTC))

    published = public_keys_document(keys.load(tmp_path))

    dated = [
        (k["kid"], k["active"], k["valid_from"], k["valid_until"])
        for k in published["keys"]
        if k["use"] == "sig"
    ]
    assert dated == [
        (third, True, "2026-04-01T12:00:00Z", None),
        (second, False, "2026-03-01T12:00:00Z", "2026-04-01T12:00:00Z"),
        (first, False, "2026-01-05T08:00:00Z", "2026-03-01T12:00:00Z"),
    ]
    canonicalize(published)  # still plain, signable JSON
    # What the first key signed verifies with what keys.json publishes two rotations on...
    trusted = trusted_keys(json.loads(json.dumps(published)))
    assert verify_document(old_envelope, trusted) == DOCUMENT
    # ...and its wrong-key twin: without the first key published, it does not.
    (tmp_path / f"signing-{first}.key").unlink()
    with pytest.raises(UnknownKey):
        verify_document(old_envelope, trusted_keys(public_keys_document(keys.load(tmp_path))))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "keys. list"),
        ({"keys": {}}, "keys. list"),
        ({"keys": ["x"]}, "key #1 is not an object"),
        ({"keys": [{"alg": "Ed25519", "public_key": "AAAA"}]}, "needs a kid"),
        ({"keys": [{"alg": "Ed25519", "kid": "k", "public_key": "A"}]}, "not base64url"),
        ({"keys": [{"alg": "Ed25519", "kid": "k", "public_key": "AAAA"}]}, "3 bytes"),
    ],
)
def test_trusted_keys_refuses_a_document_of_the_wrong_shape(document: Any, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        trusted_keys(document)
