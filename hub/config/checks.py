"""Checks of one settings value, named in the declarations of :mod:`hub.config.sections`.

Each returns ``None`` when the value is fine, else what the value must be; the reader
puts ``[section] key`` in front.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from hub.domain.policy import known_time_zone


def time_zone(value: str) -> str | None:
    """An IANA time zone (checked against the zoneinfo database the hub runs with)."""
    if known_time_zone(value):
        return None
    return f'must be a time zone like "Europe/London", not {value!r}'


def web_address(value: str) -> str | None:
    """An http(s) address with a host: agencies' links are built on it."""
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        ok = False
    if ok:
        return None
    return f"must be an http:// or https:// address with a host, not {value!r}"


def networks(values: tuple[str, ...]) -> str | None:
    """IP addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``)."""
    for value in values:
        try:
            ipaddress.ip_network(value)
        except ValueError:
            return f'must be IP addresses or networks like "127.0.0.1/32", not {value!r}'
    return None


def clock_time(value: str) -> str | None:
    """A wall-clock time "HH:MM" on the 24-hour clock."""
    hh, _, mm = value.partition(":")
    if hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60:
        return None
    return 'must be "HH:MM"'


def plain_address(value: str) -> str | None:
    """A mail address without a +tag: the hub adds one per request (``replies+<id>``)."""
    if "@" in value and "+" not in value:
        return None
    return "must be a plain address (the hub adds +tags)"


def someone(value: tuple[str, ...]) -> str | None:
    """At least one recipient: alerts that reach nobody are not alerts."""
    return None if value else "is empty: nobody would hear of new cases"


def lowered(values: tuple[str, ...]) -> tuple[str, ...]:
    """Addresses and domains compare case-insensitively (RFC 5321 section 2.4, in
    practice): keep them lower-case and trimmed."""
    return tuple(v.strip().lower() for v in values)
