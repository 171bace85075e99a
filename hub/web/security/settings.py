"""The web layer's security settings, built once by ``build_app`` and kept in the app."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from hub.clock import Clock
from hub.crypto.keys import KeyRing
from hub.crypto.sessions import SessionSigner
from hub.web.security.headers import is_https, security_headers

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebSecurity:
    """Everything the session, CSRF, header and client-address helpers need."""

    signer: SessionSigner
    clock: Clock
    headers: Mapping[str, str]
    secure_cookies: bool
    # Reverse proxies whose X-Forwarded-For is believed; empty: believe nobody.
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def cookie_name(self) -> str:
        return "__Host-marrac-session" if self.secure_cookies else "marrac-session"

    @classmethod
    def build(
        cls,
        ring: KeyRing,
        clock: Clock,
        public_url: str,
        script_hashes: Iterable[str] = (),
        trusted_proxies: Iterable[str] = (),
    ) -> WebSecurity:
        return cls(
            signer=SessionSigner.from_ring(ring),
            clock=clock,
            headers=security_headers(public_url, script_hashes),
            secure_cookies=is_https(public_url),
            trusted_proxies=tuple(ipaddress.ip_network(p) for p in trusted_proxies),
        )

    def now(self) -> int:
        """The hub's clock, in whole seconds (session expiry is kept in those)."""
        return int(self.clock.now().timestamp())


SECURITY = web.AppKey("security", WebSecurity)


def security_of(request: web.Request) -> WebSecurity:
    """The app's security settings, for a request."""
    return request.config_dict[SECURITY]
