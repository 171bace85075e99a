"""The capabilities a request hands out: its link token, the reply address's MAC and the
one-time codes, all minted under the hub's ``token`` key for one purpose (STYLE.md
habit 8: a purpose-specific key)."""

from __future__ import annotations

from hub.crypto.tokens import TokenService
from hub.services.context import Context

LINK_PURPOSE = "request-link"


def link_tokens(ctx: Context) -> TokenService:
    """Capabilities are minted under the active token key."""
    assert ctx.ring is not None
    return TokenService.from_ring(ctx.ring, LINK_PURPOSE)


def token_services(ctx: Context) -> list[TokenService]:
    """Every token key, the active one first: links, reply addresses and codes issued
    before a key rotation keep working until they expire."""
    assert ctx.ring is not None
    active = ctx.ring.active["token"]
    keys = sorted(ctx.ring.keys["token"].values(), key=lambda k: k.fingerprint != active)
    return [TokenService(k.secret, LINK_PURPOSE) for k in keys]
