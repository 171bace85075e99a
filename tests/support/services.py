"""Small helpers shared by the real-service fixtures.

``require`` decides what happens when a real service (Dovecot, PostgreSQL) is not
available: on CI (or when explicitly demanded) a missing service must fail the run
loudly, because a silently skipped integration suite looks exactly like a green one.
On a developer machine it skips, but still shouts on stderr so nobody mistakes a
skip for a pass.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

__all__ = ["free_port", "port_open", "require", "services_required"]

_TRUTHY = {"1", "true", "yes", "on"}


def services_required() -> bool:
    """Whether missing services must fail the run instead of skipping tests.

    True on CI (``CI=true``/``CI=1``) or when ``MARRAC_HUB_REQUIRE_SERVICES=1``.
    """
    ci = os.environ.get("CI", "").strip().lower()
    forced = os.environ.get("MARRAC_HUB_REQUIRE_SERVICES", "").strip().lower()
    return ci in _TRUTHY or forced in _TRUTHY


def require(name: str, ok: bool, why: str) -> None:
    """Fail (CI / forced) or skip (locally) the current test when ``name`` is missing.

    Call it from a fixture with ``ok`` saying whether the service is usable and
    ``why`` saying what was tried, so the message tells the reader how to fix it.
    """
    if ok:
        return
    banner = f"REAL SERVICE MISSING: {name}: {why}"
    if services_required():
        pytest.fail(
            f"{banner}\n"
            "Integration tests need the real service on this machine "
            "(CI or MARRAC_HUB_REQUIRE_SERVICES=1 forbids skipping).",
            pytrace=False,
        )
    print(
        f"\n*** {banner} -- SKIPPING tests that need it "
        "(set MARRAC_HUB_REQUIRE_SERVICES=1 to make this a failure) ***",
        file=sys.stderr,
        flush=True,
    )
    pytest.skip(f"{banner} (skipped; MARRAC_HUB_REQUIRE_SERVICES=1 makes this fail)")


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago.

    The kernel picks it (bind to port 0); the socket is closed before returning,
    so there is a small race with other processes, acceptable for tests.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
