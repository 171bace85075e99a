"""Settings: parsed once at start into a frozen, typed object that fails fast.

The file is TOML (``config/hub.example.toml`` documents every key). Secrets may come
from the environment instead of the file (``MARRAC_HUB_IMAP_PASSWORD``,
``MARRAC_HUB_SMTP_PASSWORD``, ``MARRAC_HUB_REPLIES_PASSWORD``, ``MARRAC_HUB_DATABASE_URL``)
so that the file itself can be kept in configuration management without them.
Relative paths are resolved against the directory of the config file, so the hub behaves
the same whichever directory it is started from.

Each section is a frozen dataclass whose fields declare their keys once
(:mod:`.sections`, :mod:`.declarations`); one reader walks them (:mod:`.reading`) and the
rules that span keys follow (:mod:`.consistency`). Every problem found is reported
together in one :class:`ConfigError`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from hub.config.consistency import advisories, check_settings, database_url
from hub.config.policy_file import load_policy
from hub.config.problems import ConfigError, Problems
from hub.config.reading import Reader
from hub.config.sections import (
    SECTIONS,
    SECURITY_MODES,
    AgenciesSettings,
    AlertSettings,
    DatabaseSettings,
    HubSettings,
    IntakeSettings,
    OutboxSettings,
    RepliesSettings,
    RequestSettings,
    SchedulerSettings,
    Settings,
    SmtpSettings,
    WebSettings,
)

__all__ = [
    "SECURITY_MODES",
    "AlertSettings",
    "ConfigError",
    "DatabaseSettings",
    "HubSettings",
    "IntakeSettings",
    "OutboxSettings",
    "RepliesSettings",
    "RequestSettings",
    "SchedulerSettings",
    "Settings",
    "SmtpSettings",
    "WebSettings",
    "advisories",
    "default_path",
    "for_tests",
    "load",
    "load_policy",
    "parse",
]


def parse(raw: Mapping[str, Any], base: Path, env: Mapping[str, str]) -> Settings:
    """Turn a TOML document into :class:`Settings`, or raise :class:`ConfigError`
    listing every problem found."""
    problems = Problems()
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        problems.add(f"unknown section(s): {', '.join(sorted(unknown))}")
    read = Reader(raw, base, env, problems)
    hub = read.section("hub", HubSettings)
    database = read.section("database", DatabaseSettings)
    url = database_url(database.url, base, hub.data_dir, problems)
    intake = read.section("intake", IntakeSettings)
    replies = read.section("replies", RepliesSettings)
    smtp = read.section("smtp", SmtpSettings)
    outbox = read.section("outbox", OutboxSettings)
    alerts = read.section("alerts", AlertSettings)
    web = read.section("web", WebSettings)
    agencies = read.section("agencies", AgenciesSettings)
    requests = replace(read.section("requests", RequestSettings), agencies_file=agencies.file)
    scheduler = read.section("scheduler", SchedulerSettings)
    settings = Settings(
        hub,
        replace(database, url=url),
        intake,
        smtp,
        outbox,
        alerts,
        web,
        replies,
        requests,
        scheduler,
    )
    check_settings(settings, problems)  # the policy file too: a bad one stops the hub here
    problems.raise_any()
    return settings


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """``$MARRAC_HUB_CONFIG``, else ``./hub.toml``."""
    env = os.environ if env is None else env
    return Path(env.get("MARRAC_HUB_CONFIG") or "hub.toml")


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings file; raise :class:`ConfigError` with the reasons."""
    env = os.environ if env is None else env
    path = path or default_path(env)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no settings file at {path} (see config/hub.example.toml)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    settings = parse(raw, path.resolve().parent, env)
    return replace(settings, source_path=path.resolve())


def for_tests(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests: embedded defaults under ``data_dir``, sections overridable.

    ``overrides`` maps a section name to a dict of its keys, e.g.
    ``for_tests(tmp, intake={"imap_port": 1143, "imap_security": "plain"})``.
    """
    raw: dict[str, Any] = {
        "hub": {"data_dir": str(data_dir)},
        # Test mail carries no gateway's Authentication-Results: opt out explicitly.
        "intake": {
            "source": "maildir",
            "maildir": str(data_dir / "inbox"),
            "allow_unauthenticated": True,
        },
        "smtp": {"transport": "maildir", "maildir": str(data_dir / "sent")},
        "alerts": {"team_leaders": ["team-leader.south@hub.test"]},
    }
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return parse(raw, data_dir, {})
