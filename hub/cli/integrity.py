"""Checking what the hub wrote: ``verify`` a signed request, receipt, answer or audit
checkpoint offline, ``audit verify`` the audit trail's keyed chain (against checkpoints an
auditor kept, if given) and ``audit checkpoint`` to sign its head."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hub.cli.common import Commands, actor, fail, with_context
from hub.config import Settings, default_path, load
from hub.crypto import keys as keyfiles
from hub.crypto.signing import (
    SignatureError,
    public_keys_document,
    trusted_keys,
    verify_document,
)
from hub.crypto.strict_json import parse_json
from hub.services import audit, audit_checkpoints
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
    p = commands.add("verify", cmd_audit_verify, "check the audit hash chain", group)
    p.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="a signed checkpoint the chain must still hold (repeatable)",
    )
    p = commands.add(
        "checkpoint", cmd_audit_checkpoint, "sign the chain's head for offline checks", group
    )
    p.add_argument("--out", type=Path, default=None, help="write it here (default: stdout)")


def _read_json(path: Path) -> Any:
    """A file read as a verifier must: duplicate member names refused (a ValueError)."""
    return parse_json(path.read_text(encoding="utf-8"))


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


def _checkpoints(ctx: Context, paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Each checkpoint file's document, once its signature verifies under our keys."""
    assert ctx.ring is not None
    trusted = trusted_keys(public_keys_document(ctx.ring))
    return [(path, verify_document(_read_json(path), trusted)) for path in paths]


async def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            checkpoints = _checkpoints(ctx, args.checkpoint)
        except (OSError, ValueError, SignatureError) as exc:
            return fail(f"checkpoint refused: {exc}")
        async with ctx.sessions() as session, session.begin():
            count, broken = await audit.verify(session)
            problems = [
                f"{path}: {problem}"
                for path, document in checkpoints
                if (problem := await audit_checkpoints.compare(session, document))
            ]
        if broken is not None:
            print(f"audit chain BROKEN at event {broken} ({count} checked)")
            return 1
        if problems:
            print(f"audit chain does NOT match its checkpoint: {'; '.join(problems)}")
            return 1
        print(f"audit chain intact: {count} events")
        return 0

    return await with_context(settings, run)


async def cmd_audit_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            envelope = await audit_checkpoints.issue(ctx, actor(args))
        except audit_checkpoints.AuditChainBroken as exc:
            return fail(exc)
        text = json.dumps(envelope, indent=2, ensure_ascii=False) + "\n"
        if args.out is None:
            print(text, end="")
        else:
            args.out.write_text(text, encoding="utf-8")
            print(f"checkpoint of {envelope['document']['events']} events: {args.out}")
        return 0

    return await with_context(settings, run)
