"""The client's address for the audit trail, behind trusted reverse proxies or not."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from hub.web.security.settings import Network, security_of


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket shows 127.0.0.1 as ::ffff:127.0.0.1
    return any(ip in net for net in networks)


def _forwarded_hops(request: web.Request) -> list[str]:
    return [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]


def client_ip(request: web.Request) -> str | None:
    """The client's address for the audit trail.

    The peer address, unless the peer is a configured trusted proxy: then the nearest
    address in ``X-Forwarded-For`` that is not itself a trusted proxy (the ones further
    left were written by the client and prove nothing).
    """
    remote = request.remote
    networks = security_of(request).trusted_proxies
    if remote is None or not networks or not _trusted(remote, networks):
        return remote
    for hop in reversed(_forwarded_hops(request)):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # garbled: believe only what we saw ourselves
        if not _trusted(hop, networks):
            return hop
    return remote
