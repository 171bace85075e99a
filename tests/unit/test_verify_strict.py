"""``verify`` is strict: what a lenient reader would let one document show and another be
checked is refused (duplicate members, extra signature members, a keys.json that lies
about which key a kid names). Each refusal has a twin that still verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from hub.crypto.encoding import b64url
from hub.crypto.signing import (
    SignatureError,
    SignatureInvalid,
    key_id,
    sign_document,
    trusted_keys,
    verify_document,
)
from hub.crypto.strict_json import StrictJSONError, parse_json

ROOT = Path(__file__).parents[2]
REAL = {"type": "marrac-hub/information-request", "reference": "RQ-2026-000042", "v": 1}
FAKE = {"type": "marrac-hub/information-request", "reference": "RQ-2026-000666", "v": 1}


def _keys_document(*entries: tuple[str, bytes]) -> dict[str, Any]:
    return {
        "keys": [
            {"kid": kid, "alg": "Ed25519", "use": "sig", "public_key": b64url(pub)}
            for kid, pub in entries
        ]
    }


@pytest.fixture
def signed() -> tuple[dict[str, Any], dict[str, bytes], SigningKey]:
    key = SigningKey.generate()
    public = bytes(key.verify_key)
    return sign_document(REAL, key, key_id(public)), {key_id(public): public}, key


def _with_fake_document_first(envelope: dict[str, Any]) -> str:
    """The envelope's text with a second ``document`` member before the real one."""
    real = json.dumps(envelope["document"])
    signature = json.dumps(envelope["signature"])
    return f'{{"document": {json.dumps(FAKE)}, "document": {real}, "signature": {signature}}}'


def test_a_fake_document_placed_before_the_real_one_is_refused(
    signed: tuple[dict[str, Any], dict[str, bytes], SigningKey],
) -> None:
    envelope, trusted, _ = signed
    text = _with_fake_document_first(envelope)
    # The lenient reader keeps the last member, so the signature checks out...
    assert verify_document(json.loads(text), trusted) == REAL
    # ...while another reader shows the first: the strict reader refuses the text.
    with pytest.raises(StrictJSONError, match="'document' appears twice"):
        parse_json(text)
    with pytest.raises(StrictJSONError, match="'reference' appears twice"):
        parse_json('{"a": [{"reference": 1, "reference": 2}]}')
    with pytest.raises(StrictJSONError, match="NaN"):
        parse_json('{"a": NaN}')
    # Twin: the envelope as the hub wrote it reads and verifies.
    assert verify_document(parse_json(json.dumps(envelope)), trusted) == REAL


@pytest.mark.parametrize("extra", [{"note": "trust me"}, {"kid2": "x"}, {"sig_alt": ""}])
def test_extra_members_inside_the_signature_are_refused(
    signed: tuple[dict[str, Any], dict[str, bytes], SigningKey], extra: dict[str, str]
) -> None:
    envelope, trusted, _ = signed
    envelope["signature"].update(extra)
    with pytest.raises(SignatureInvalid, match="signature has unexpected members"):
        verify_document(envelope, trusted)


def test_a_keys_document_mapping_a_known_kid_to_another_key_is_refused(
    signed: tuple[dict[str, Any], dict[str, bytes], SigningKey],
) -> None:
    envelope, trusted, _ = signed
    (kid, genuine), impostor = next(iter(trusted.items())), SigningKey.generate()
    forged = sign_document(FAKE, impostor, kid)  # signed by another key, under our kid
    lying = _keys_document((kid, bytes(impostor.verify_key)))
    with pytest.raises(SignatureError, match="is not the key that kid names"):
        trusted_keys(lying)
    with pytest.raises(SignatureError, match="listed twice"):
        trusted_keys(_keys_document((kid, genuine), (kid, genuine)))
    # Twin: the honest document names each key by its own kid and verifies ours only.
    honest = trusted_keys(_keys_document((kid, genuine)))
    assert verify_document(envelope, honest) == REAL
    with pytest.raises(SignatureInvalid):
        verify_document(forged, honest)


def _verify(
    tmp_path: Path, envelope_text: str, keys: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "envelope.json").write_text(envelope_text)
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "verify", str(tmp_path / "envelope.json"),
         "--keys", str(tmp_path / "keys.json")],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_the_verify_command_refuses_a_duplicated_document_and_a_lying_keys_file(
    tmp_path: Path, signed: tuple[dict[str, Any], dict[str, bytes], SigningKey]
) -> None:
    envelope, trusted, _ = signed
    ((kid, public),) = trusted.items()
    honest = _keys_document((kid, public))
    good = _verify(tmp_path, json.dumps(envelope), honest)
    assert good.returncode == 0 and good.stdout.startswith("VALID"), good
    doubled = _verify(tmp_path, _with_fake_document_first(envelope), honest)
    assert doubled.returncode == 1 and "appears twice" in doubled.stdout, doubled
    impostor = bytes(SigningKey.generate().verify_key)
    lying = _verify(tmp_path, json.dumps(envelope), _keys_document((kid, impostor)))
    assert lying.returncode == 2 and "not the key that kid names" in lying.stderr, lying
