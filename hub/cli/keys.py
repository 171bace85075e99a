"""The hub's keys: ``keys list`` shows them, ``keys rotate KIND`` makes a new one current
(the old ones stay for reading), ``keys reseal`` moves sealed data to the current keys at
once (``serve`` also does it in the background, see :mod:`hub.services.rotation`)."""

from __future__ import annotations

import argparse
from typing import Any

from hub.cli.common import Commands, listing, with_context
from hub.config import Settings
from hub.crypto import keys as keyfiles
from hub.services import rotation
from hub.services.context import Context


def register(commands: Commands) -> None:
    group = commands.group("keys", "the hub's keys: list, rotate, re-seal")
    p = commands.add("list", cmd_list, "every key, current and older, with its dates", group)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = commands.add(
        "rotate", cmd_rotate, "make a new key current; older keys stay for reading", group
    )
    p.add_argument("kind", choices=keyfiles.KINDS)
    commands.add(
        "reseal", cmd_reseal, "re-seal data and recompute indexes under the current keys", group
    )


def _row(key: keyfiles.Key, current: bool) -> dict[str, Any]:
    return {
        "kind": key.kind,
        "fingerprint": key.fingerprint,
        "current": current,
        "valid_from": key.valid_from,
        "valid_until": key.valid_until,
    }


async def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    ring = keyfiles.load(settings.hub.key_dir)
    rows = [
        _row(key, key.fingerprint == ring.active[kind])
        for kind in keyfiles.KINDS
        for key in ring.all(kind)
    ]
    return listing(
        args,
        rows,
        "no keys",
        lambda r: (
            f"{r['kind']:<8} {r['fingerprint']}  "
            f"{'current' if r['current'] else 'older  '}  "
            f"from {r['valid_from'] or '-'} until {r['valid_until'] or '-'}"
        ),
    )


def _next_step(kind: str) -> str:
    if kind == "data":
        return (
            "Values sealed under the older key stay readable; the running hub re-seals "
            "them in the background, or run `marrac-hub keys reseal` now."
        )
    if kind == "token":
        return "Links, codes and reply addresses issued before keep working."
    if kind == "signing":
        return "keys.json lists the older key, so what it signed still verifies."
    return "Everything sealed or indexed before stays readable."


async def cmd_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        done = await rotation.rotate_key(ctx, args.kind)
        print(
            f"{done.kind} key rotated: {done.fingerprint} is current"
            + (f" (replaces {done.replaced}, kept for reading)" if done.replaced else "")
        )
        if done.kind == "index":
            print(f"blind indexes recomputed under the new key: {done.reindexed} changed")
        print(_next_step(done.kind))
        print("Restart the hub (every `marrac-hub serve`) to start using the new key.")
        return 0

    return await with_context(settings, run)


async def cmd_reseal(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        report = await rotation.reseal(ctx, force=True)
        print(
            f"re-sealed {report.resealed} values, recomputed {report.reindexed} indexes"
            + (f", {report.unreadable} values would not open" if report.unreadable else "")
        )
        return 1 if report.unreadable else 0

    return await with_context(settings, run)
