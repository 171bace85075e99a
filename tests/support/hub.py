"""Settings against the test services, a config file, bounded waits; the shared names.

``settings_dict`` is the one definition of a test hub's settings on real edges: the
hubs ``tests.support.hubs.build_hub`` builds (the one way to build a test hub) take
theirs from it, and a test running ``marrac-hub`` as a process writes it to a file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REFERRALS = "marrac-referrals@hub.test"
TEAM_LEADER = "team-leader.south@hub.test"
PASSWORD = "test-pass"
FIXTURES = Path(__file__).parents[1] / "fixtures"


def settings_dict(
    data_dir: Path,
    db_url: str,
    *,
    imap_port: int | None = None,
    smtp_port: int | None = None,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    """A settings document for a hub reading Dovecot and sending through the test SMTP.

    A port not given is 1, where nothing listens: the settings are valid, and a hub
    that tries that edge meets a refused connection."""
    raw: dict[str, Any] = {
        "hub": {"data_dir": str(data_dir)},
        "database": {"url": db_url},
        "intake": {
            "source": "imap",
            "imap_host": "127.0.0.1",
            "imap_port": imap_port or 1,
            "imap_security": "plain",
            "username": REFERRALS,
            "password": PASSWORD,
            "poll_seconds": 2,
            "reconnect_max_seconds": 1,
            # The fixtures carry no gateway's Authentication-Results: opt out explicitly
            # (tests of authentication set trusted_authserv_id).
            "allow_unauthenticated": True,
        },
        "smtp": {
            "transport": "smtp",
            "host": "127.0.0.1",
            "port": smtp_port or 1,
            "security": "plain",
            "timeout_seconds": 5,
        },
        "outbox": {
            "lease_seconds": 3,
            "backoff_first_seconds": 0.2,
            "backoff_max_seconds": 1,
            "poll_seconds": 0.5,
        },
        "alerts": {"team_leaders": [TEAM_LEADER]},
        # Any free port: several hubs (and test runs) share this machine.
        "web": {"port": 0},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return raw


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    """Write a settings document as TOML (the subset the hub uses: tables of scalars/lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {value(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


async def wait_until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 20.0,
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    """Poll a condition (bounded). Used for real asynchronous delivery, never for
    deadlines: those travel in time through the clock."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / "referrals" / name).read_bytes()
