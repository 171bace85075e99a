"""Checking what the hub wrote: ``verify`` a signed request, receipt or answer offline,
and ``audit verify`` the audit trail's hash chain."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hub.cli.common import Commands, with_context
from hub.config import Settings, default_path, load
from hub.crypto import keys as keyfiles
from hub.crypto.signing import (
    SignatureError,
    public_keys_document,
    trusted_keys,
    verify_document,
)
from hub.services import audit
from hub.services.context import Context


def register(commands: Commands) -> None:
    p = commands.add_offline(
        "verify", cmd_verify, "check a signed request, answer or receipt offline"
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--keys",
        type=Path,
        default=None,
        help="a published keys.json (default: this hub's own keys)",
    )
    group = commands.group("audit", "the audit trail")
    commands.add("verify", cmd_audit_verify, "check the audit hash chain", group)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _own_keys(args: argparse.Namespace) -> dict[str, bytes]:
    """This hub's signing keys, as its ``keys.json`` publishes them."""
    settings = load(args.config or default_path())
    return trusted_keys(public_keys_document(keyfiles.load(settings.hub.key_dir)))


def cmd_verify(args: argparse.Namespace) -> int:
    """Offline check of a signed request, receipt or answer (no database needed).

    Exit 1 when the envelope is unreadable or does not verify; exit 2 when the keys to
    verify it with cannot be had (bad settings, key directory or keys file).
    """
    try:
        envelope = _read_json(args.file)
    except (OSError, ValueError) as exc:
        print(f"INVALID: cannot read {args.file}: {exc}")
        return 1
    if args.keys is None:
        trusted = _own_keys(args)
    else:
        try:
            trusted = trusted_keys(_read_json(args.keys))
        except (OSError, ValueError, SignatureError) as exc:
            print(f"marrac-hub: cannot use {args.keys}: {exc}", file=sys.stderr)
            return 2
    try:
        document = verify_document(envelope, trusted)
    except SignatureError as exc:
        print(f"INVALID: {exc}")
        return 1
    print(
        f"VALID: {document.get('type')} {document.get('reference')} signed by "
        f"{envelope['signature']['kid']}"
    )
    return 0


async def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        async with ctx.sessions() as session, session.begin():
            count, broken = await audit.verify(session)
        if broken is not None:
            print(f"audit chain BROKEN at event {broken} ({count} checked)")
            return 1
        print(f"audit chain intact: {count} events")
        return 0

    return await with_context(settings, run)
