"""Rules that span keys or sections: what one key needs of another (a Maildir source
needs its folder, plaintext needs a loopback host) and what the policy file must agree
with. Each rule runs only when the keys it reads were read cleanly, so one bad value is
reported once.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from hub.config.policy_file import load_policy
from hub.config.problems import ConfigError, Problems
from hub.config.reading import resolve
from hub.config.sections import (
    IntakeSettings,
    OutboxSettings,
    Settings,
    SmtpSettings,
)

_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def database_url(url: str, base: Path, data_dir: Path, problems: Problems) -> str:
    """The database URL: by default the SQLite file ``hub.db`` in ``data_dir``; a
    relative SQLite path is relative to the settings file."""
    if not url:
        return f"sqlite+aiosqlite:///{data_dir / 'hub.db'}"
    if url.startswith("sqlite") and ":///" in url:
        # Three slashes and a relative path: relative to this settings file.
        path = url.split(":///", 1)[1]
        if path and not path.startswith("/") and path != ":memory:":
            url = f"sqlite+aiosqlite:///{resolve(base, path)}"
    if not url.startswith(_DATABASE_SCHEMES):
        problems.add(
            "[database] url must be sqlite+aiosqlite:// or postgresql+asyncpg://",
            "database",
            "url",
        )
    return url


def check_settings(settings: Settings, problems: Problems) -> None:
    """Record every contradiction between keys of ``settings``."""
    _check_intake(settings.intake, problems)
    _check_smtp(settings.smtp, problems)
    _check_outbox(settings.outbox, problems)
    _check_policy(settings, problems)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_plaintext(name: str, mode: str, host: str, problems: Problems) -> None:
    if mode == "plain" and not _is_loopback(host):
        # Plaintext credentials and referrals must never cross a network.
        problems.add(f"[{name}] plain (unencrypted) is allowed only to a loopback host")


def _check_intake(intake: IntakeSettings, problems: Problems) -> None:
    if not problems.clean("intake", "source", "maildir"):
        return
    if intake.source == "maildir" and intake.maildir is None:
        problems.add("[intake] source = maildir needs [intake] maildir = PATH")
    if intake.source != "imap":
        return
    if problems.clean("intake", "imap_security", "imap_host"):
        _check_plaintext("intake", intake.imap_security, intake.imap_host, problems)
    if problems.clean("intake", "password") and not intake.password:
        problems.add("[intake] password is empty: set it or MARRAC_HUB_IMAP_PASSWORD")


def _check_smtp(smtp: SmtpSettings, problems: Problems) -> None:
    if not problems.clean("smtp", "transport", "maildir"):
        return
    if smtp.transport == "maildir" and smtp.maildir is None:
        problems.add("[smtp] transport = maildir needs [smtp] maildir = PATH")
    if smtp.transport == "smtp" and problems.clean("smtp", "security", "host"):
        _check_plaintext("smtp", smtp.security, smtp.host, problems)


def _check_outbox(outbox: OutboxSettings, problems: Problems) -> None:
    keys = ("backoff_first_seconds", "backoff_max_seconds")
    if (
        problems.clean("outbox", *keys)
        and outbox.backoff_first_seconds > outbox.backoff_max_seconds
    ):
        problems.add("[outbox] backoff_first_seconds must not exceed backoff_max_seconds")


def _check_policy(settings: Settings, problems: Problems) -> None:
    """A bad policy file stops the hub at start; its calendar must be the hub's zone,
    or deadlines would be counted in one zone and shown in another."""
    hub = settings.hub
    if hub.policy_file is None or not problems.clean("hub", "policy_file"):
        return
    try:
        policy = load_policy(settings)
    except ConfigError as exc:
        problems.extend(exc, "hub", "policy_file")
        return
    if problems.clean("hub", "timezone") and policy.timezone != hub.timezone:
        problems.add(
            f"[hub] policy_file {hub.policy_file}: calendar.timezone {policy.timezone!r} "
            f"differs from [hub] timezone {hub.timezone!r}: set them alike"
        )


def advisories(settings: Settings) -> list[str]:
    """Settings that are allowed but probably wrong: said by ``check-config`` and logged
    by ``serve``, not refused (a test or a one-off run may mean them)."""
    notes = []
    url = urlsplit(settings.hub.public_url)
    host, port = url.hostname or "", settings.web.port
    if _is_loopback(host) and port != 0:
        named = url.port or (443 if url.scheme == "https" else 80)
        if named != port:
            # The links mailed to agencies are built on public_url: a loopback URL that
            # names another port than the hub listens on reaches nothing (issue 8).
            notes.append(
                f"[hub] public_url {settings.hub.public_url} names port {named} on this "
                f"machine, but [web] port is {port}: the links mailed to agencies will "
                "not reach the hub (set public_url to the address agencies use)"
            )
    return notes
