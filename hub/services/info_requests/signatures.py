"""Signing what the hub sends an agency (a request, a receipt) with its Ed25519 key, and
the short fingerprint of a signature that an agency can check by phone."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from hub.crypto.signing import key_id, sign_document
from hub.services.context import Context


def sign(ctx: Context, document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` in a signed envelope under the hub's active signing key (its key id
    names the public key published at ``/.well-known/marrac-hub/keys.json``)."""
    assert ctx.ring is not None
    kid = key_id(bytes(ctx.ring.signing_key.verify_key))
    return sign_document(document, ctx.ring.signing_key, kid)


def signature_fingerprint(envelope: dict[str, Any]) -> str:
    """A short, readable digest of the signature, for checking a request by phone."""
    digest = hashlib.sha256(envelope["signature"]["sig"].encode()).hexdigest()[:16].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 16, 4))
