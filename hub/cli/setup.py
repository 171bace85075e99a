"""Setting up: ``init`` (database and keys) and ``check-config``."""

from __future__ import annotations

import argparse

from hub.cli.common import Commands
from hub.config import Settings
from hub.services.context import initialise


def register(commands: Commands) -> None:
    commands.add("init", cmd_init, "create the database and the keys")
    commands.add("check-config", cmd_check_config, "validate the settings file")


def redact_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ``***``."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


async def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    fingerprints = await initialise(settings)
    print(f"database ready: {redact_url(settings.database.url)}")
    print(f"keys in {settings.hub.key_dir} (mode 0600):")
    for kind, fp in sorted(fingerprints.items()):
        print(f"  {kind:8} {fp}")
    return 0


async def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    print(f"settings OK: {settings.source_path}")
    print(f"  database: {redact_url(settings.database.url)}")
    print(f"  intake:   {settings.intake.source}")
    print(f"  smtp:     {settings.smtp.transport}")
    return 0
