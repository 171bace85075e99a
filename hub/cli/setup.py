"""Setting up: ``init`` (database and keys) and ``check-config``."""

from __future__ import annotations

import argparse
import logging
import sys

from hub.cli.common import Commands
from hub.config import Settings, advisories
from hub.domain.senders import (
    UNAUTHENTICATED_REFUSAL,
    UNAUTHENTICATED_WARNING,
    SenderTrust,
    sender_trust,
)
from hub.services.context import initialise

log = logging.getLogger("hub.cli")


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


def senders_gate(settings: Settings) -> int | None:
    """Refuse to read mail (exit code 2) unless senders are authenticated or the
    operator opted out explicitly; warn loudly, on every start, when they did."""
    trust = sender_trust(settings.intake.trusted_authserv_id, settings.intake.allow_unauthenticated)
    if trust is SenderTrust.REFUSED:
        print(f"marrac-hub: bad settings: {UNAUTHENTICATED_REFUSAL}", file=sys.stderr)
        return 2
    if trust is SenderTrust.UNAUTHENTICATED:
        log.warning(UNAUTHENTICATED_WARNING)
    return None


async def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    refused = senders_gate(settings)
    if refused is not None:
        return refused
    trust = sender_trust(settings.intake.trusted_authserv_id, settings.intake.allow_unauthenticated)
    print(f"settings OK: {settings.source_path}")
    print(f"  database: {redact_url(settings.database.url)}")
    print(f"  intake:   {settings.intake.source}")
    print(f"  smtp:     {settings.smtp.transport}")
    if trust is SenderTrust.AUTHENTICATED:
        print(f"  senders:  authenticated by {settings.intake.trusted_authserv_id}")
    else:
        print("  senders:  NOT AUTHENTICATED (allow_unauthenticated = true)")
    for note in advisories(settings):
        print(f"  warning:  {note}")
    return 0
