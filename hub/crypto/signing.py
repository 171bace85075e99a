"""Signed documents: canonical JSON (RFC 8785, JCS) signed with the hub's Ed25519 key.

Every information request the hub sends is a JSON document; an agency (or an auditor, years
later) must be able to check that the hub issued it and that nobody changed it since. JSON
text is not unique (key order, spacing, escapes), so the hub signs the document's
*canonical* form: RFC 8785 serialisation, which any JCS library reproduces byte for byte.

The hub only ever signs what it builds itself: objects with string keys, arrays, strings,
integers, booleans and null. Floats are refused rather than serialised with the ECMAScript
number algorithm: nothing the hub signs is fractional, and a float in a document is a bug
(a due time as a timestamp, a score divided by something) we want to hear about. Integers
are limited to the IEEE 754 "safe" range (RFC 7493, I-JSON, 2.2), because RFC 8785 reads
numbers as doubles and a larger integer would not survive a round trip through a verifier.

An envelope is ``{"document": {...}, "signature": {"alg": "Ed25519", "kid": ..., "sig":
...}}``. The signature covers exactly ``canonicalize(document)``: nothing is prepended, so a
third party needs only a JCS library and Ed25519 to check it. ``sig`` is the 64-byte
signature in base64url without padding (RFC 4648, 5); ``kid`` is the key's fingerprint as
``hub.crypto.keys.fingerprint("signing", ...)`` names it, and the published key list at
``/.well-known/marrac-hub/keys.json`` maps it to the public key.

Exceptions::

    CanonicalizationError(ValueError)   the value is not JSON the hub may sign
    SignatureError(Exception)           (also: a trusted key document is malformed)
     +-- SignatureInvalid               malformed envelope, altered document or signature
     +-- UnknownKey                     the kid names no key the verifier trusts

A verifier's trusted keys come from a published key document: :func:`trusted_keys` reads
``keys.json`` (checking its shape) into the ``kid -> public key`` map that
:func:`verify_document` takes, so a third party and the hub itself read it the same way.

Verification is strict, because a lenient reader can be shown one thing and check
another: the CLI reads envelopes with :func:`hub.crypto.strict_json.parse_json`, which
refuses duplicate member names (a fake ``document`` placed before the real one must not
slip past), the ``signature`` member holds ``alg``, ``kid`` and ``sig`` and nothing else,
and a key document's kids are recomputed from the keys themselves, so ``keys.json``
cannot name a known kid and hand over another key.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey

from hub.crypto.encoding import b64url, unb64url
from hub.crypto.keys import KeyRing, fingerprint

ALG_SIGNING = "Ed25519"
ALG_BOX = "X25519"

# RFC 7493 (I-JSON) 2.2: integers outside +/-(2**53 - 1) are not exact as IEEE 754 doubles.
MAX_SAFE_INTEGER = 2**53 - 1

_SIG_B64 = re.compile(r"[A-Za-z0-9_-]{86}")  # 64 bytes in base64url, no padding

# JCS 3.2.2.2 (ECMAScript JSON.stringify): these get the short escapes, every other
# character below U+0020 gets \u00xx in lower-case hex, and everything else is literal.
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class CanonicalizationError(ValueError):
    """The value cannot be canonicalised: a float, a non-string key, an unpaired
    surrogate, an integer beyond the safe range or a type JSON does not have."""


class SignatureError(Exception):
    """A signed envelope could not be verified (or the keys to verify it with, from a key
    document, are malformed)."""


class SignatureInvalid(SignatureError):
    """The envelope is malformed, or its signature does not match its document."""


class UnknownKey(SignatureError):
    """The envelope was signed with a key id the verifier does not know."""


# --- canonical JSON ----------------------------------------------------------------------


def _escape(text: str, path: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        elif "\ud800" <= ch <= "\udfff":
            # A Python str can hold a lone surrogate; JSON text for JCS must be valid
            # Unicode (RFC 8785 3.1, I-JSON 2.1), so it cannot be signed.
            raise CanonicalizationError(f"{path}: unpaired surrogate U+{ord(ch):04X} in string")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_order(key: str) -> bytes:
    # JCS 3.2.3: members are sorted by their names as arrays of UTF-16 code units.
    # Big-endian UTF-16 bytes compare exactly as the code-unit sequences do.
    return key.encode("utf-16-be", "surrogatepass")


def _serialise_number(value: int | float, path: str) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalizationError(f"{path}: non-finite number {value!r} is not JSON")
        raise CanonicalizationError(
            f"{path}: float {value!r} refused (the hub signs integers only)"
        )
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise CanonicalizationError(
            f"{path}: integer {value} is outside the I-JSON safe range +/-(2**53 - 1)"
        )
    return str(int(value))


def _serialise_object(value: Mapping[Any, object], path: str, out: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise CanonicalizationError(
                f"{path}: object key {key!r} is a {type(key).__name__}, not a string"
            )
    out.append("{")
    for i, key in enumerate(sorted(value, key=_utf16_order)):
        if i:
            out.append(",")
        out.append(_escape(key, path))
        out.append(":")
        _serialise(value[key], f"{path}.{key}", out)
    out.append("}")


def _serialise_array(value: list[object] | tuple[object, ...], path: str, out: list[str]) -> None:
    out.append("[")
    for i, item in enumerate(value):
        if i:
            out.append(",")
        _serialise(item, f"{path}[{i}]", out)
    out.append("]")


def _serialise(value: object, path: str, out: list[str]) -> None:
    # bool before int: True is an int in Python but a literal in JSON.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int | float):
        out.append(_serialise_number(value, path))
    elif isinstance(value, str):
        out.append(_escape(value, path))
    elif isinstance(value, Mapping):
        _serialise_object(value, path, out)
    elif isinstance(value, list | tuple):
        _serialise_array(value, path, out)
    else:
        raise CanonicalizationError(f"{path}: {type(value).__name__} is not a JSON type")


def canonicalize(value: object) -> bytes:
    """The RFC 8785 canonical form of ``value`` as UTF-8 bytes.

    Accepts dicts (string keys), lists and tuples, str, int, bool and None. Raises
    :class:`CanonicalizationError` (naming where in the value) for anything else.
    """
    out: list[str] = []
    _serialise(value, "$", out)
    return "".join(out).encode("utf-8")


# --- keys --------------------------------------------------------------------------------


def key_id(verify_key_bytes: bytes) -> str:
    """The kid of an Ed25519 public key: the same name the key directory gives it."""
    if len(verify_key_bytes) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(verify_key_bytes)}")
    return fingerprint("signing", bytes(verify_key_bytes))


def public_keys_document(ring: KeyRing) -> dict[str, Any]:
    """What ``/.well-known/marrac-hub/keys.json`` serves.

    Every signing key, current first, then older ones (``"active": false``) newest first,
    so what they signed still verifies; each with ``valid_from`` and ``valid_until`` (ISO
    8601 UTC, null while current). Only the active box key is listed: offering an old one
    would invite sealing to a retired key. Public keys are unpadded base64url.
    """
    active_signing, signing = ring.active["signing"], []
    for key in ring.all("signing"):
        public = bytes(SigningKey(key.secret).verify_key)
        signing.append(
            {
                "kid": key_id(public),
                "alg": ALG_SIGNING,
                "use": "sig",
                "public_key": b64url(public),
                "active": key.fingerprint == active_signing,
                "valid_from": key.valid_from,
                "valid_until": key.valid_until,
            }
        )
    box = ring.current("box")
    box_public = bytes(PrivateKey(box.secret).public_key)
    return {
        "keys": [
            *signing,
            {
                "kid": fingerprint("box", box_public),
                "alg": ALG_BOX,
                "use": "enc",
                "public_key": b64url(box_public),
                "active": True,
            },
        ]
    }


# --- sign and verify ---------------------------------------------------------------------


def sign_document(
    document: Mapping[str, Any], signing_key: SigningKey, key_id: str
) -> dict[str, Any]:
    """Wrap ``document`` in an envelope signed over its canonical form.

    The envelope holds a fresh copy of the document as it was signed (tuples become
    lists), so later changes to the caller's dict cannot silently break the signature.
    """
    if not isinstance(document, Mapping):
        raise CanonicalizationError("$: a signed document must be a JSON object")
    canonical = canonicalize(document)
    signature = signing_key.sign(canonical).signature
    return {
        "document": json.loads(canonical),
        "signature": {"alg": ALG_SIGNING, "kid": key_id, "sig": b64url(signature)},
    }


def _decode_signature(sig: object) -> bytes:
    if not isinstance(sig, str) or not _SIG_B64.fullmatch(sig):
        raise SignatureInvalid("signature is not 64 bytes of unpadded base64url")
    try:
        raw = unb64url(sig)
    except ValueError:
        raise SignatureInvalid("signature is not valid base64url") from None
    # 86 characters carry 4 spare bits; only one spelling decodes to these bytes, so
    # the envelope as a whole cannot be altered and still verify.
    if b64url(raw) != sig:
        raise SignatureInvalid("signature is not in canonical base64url")
    return raw


def _signature_parts(signature: Mapping[str, Any]) -> tuple[str, bytes]:
    """The key id and the raw signature of an envelope's ``signature`` member."""
    extra = set(signature) - {"alg", "kid", "sig"}
    if extra:
        raise SignatureInvalid(f"signature has unexpected members: {', '.join(sorted(extra))}")
    alg = signature.get("alg")
    if alg != ALG_SIGNING:
        raise SignatureInvalid(f"unsupported signature algorithm {alg!r} (expected Ed25519)")
    kid = signature.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SignatureInvalid("signature has no key id")
    return kid, _decode_signature(signature.get("sig"))


def _open_envelope(envelope: Mapping[str, Any]) -> tuple[dict[str, Any], str, bytes]:
    """An envelope's document, key id and raw signature, once its shape is right."""
    if not isinstance(envelope, Mapping):
        raise SignatureInvalid("envelope is not a JSON object")
    extra = set(envelope) - {"document", "signature"}
    if extra:
        raise SignatureInvalid(f"envelope has unexpected members: {', '.join(sorted(extra))}")
    document = envelope.get("document")
    signature = envelope.get("signature")
    if not isinstance(document, dict):
        raise SignatureInvalid("envelope has no document object")
    if not isinstance(signature, Mapping):
        raise SignatureInvalid("envelope has no signature object")
    kid, raw = _signature_parts(signature)
    return document, kid, raw


def verify_document(
    envelope: Mapping[str, Any], public_keys: Mapping[str, bytes]
) -> dict[str, Any]:
    """Check an envelope against trusted public keys (kid -> 32-byte Ed25519 key).

    Returns the document. Raises :class:`UnknownKey` if the kid is not in ``public_keys``
    and :class:`SignatureInvalid` if the envelope is malformed or does not verify.
    """
    document, kid, raw = _open_envelope(envelope)
    public = public_keys.get(kid)
    if public is None:
        raise UnknownKey(f"document signed with unknown key {kid!r}")
    if len(public) != 32:
        raise SignatureError(f"trusted key {kid!r} is {len(public)} bytes, expected 32")
    try:
        canonical = canonicalize(document)
    except CanonicalizationError as exc:
        raise SignatureInvalid(f"document is not canonical JSON the hub signs: {exc}") from None
    try:
        VerifyKey(bytes(public)).verify(canonical, raw)
    except BadSignatureError:
        raise SignatureInvalid(
            f"signature does not match the document (key {kid}): altered or forged"
        ) from None
    return document


# --- trusted keys ------------------------------------------------------------------------


def _trusted_key(entry: Mapping[str, Any], n: int) -> tuple[str, bytes]:
    kid = entry.get("kid")
    encoded = entry.get("public_key")
    if not isinstance(kid, str) or not kid or not isinstance(encoded, str):
        raise SignatureError(f"key document: key #{n} needs a kid and a public_key string")
    try:
        public = unb64url(encoded)
    except ValueError:
        raise SignatureError(f"key document: key {kid!r} is not base64url") from None
    if len(public) != 32:
        raise SignatureError(f"key document: key {kid!r} is {len(public)} bytes, expected 32")
    if key_id(public) != kid:
        # The kid is a name for the key, not a claim to trust: recomputed, never believed.
        raise SignatureError(f"key document: key {kid!r} is not the key that kid names")
    return kid, public


def trusted_keys(document: object) -> dict[str, bytes]:
    """The Ed25519 public keys a key document lists, as ``kid -> key`` for
    :func:`verify_document`.

    ``document`` is a parsed ``keys.json`` as :func:`public_keys_document` writes it (or
    a copy an agency kept): ``{"keys": [{"kid", "alg", "public_key", ...}, ...]}``. Keys
    of other algorithms (the X25519 box key) are skipped; retired signing keys are kept,
    because what they signed still verifies. Raises :class:`SignatureError` naming the
    fault when the document does not have that shape.
    """
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise SignatureError('key document: not an object with a "keys" list')
    trusted: dict[str, bytes] = {}
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, Mapping):
            raise SignatureError(f"key document: key #{n} is not an object")
        if entry.get("alg") == ALG_SIGNING:
            kid, public = _trusted_key(entry, n)
            if kid in trusted:
                raise SignatureError(f"key document: key {kid!r} is listed twice")
            trusted[kid] = public
    return trusted
