"""Items that failed at a stage: ``parked list`` and ``parked retry ID``."""

from __future__ import annotations

import argparse
import sys

from hub.cli.common import Commands, actor, listing, with_context
from hub.config import Settings
from hub.ports import InboundItem
from hub.services import parked
from hub.services.context import Context


def register(commands: Commands) -> None:
    group = commands.group("parked", "items that failed")
    p = commands.add("list", cmd_parked_list, "list parked items", group)
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include retried items")
    p = commands.add("retry", cmd_parked_retry, "put a parked item back through its stage", group)
    p.add_argument("id", type=int)


async def cmd_parked_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await parked.list_parked(ctx, include_done=args.all)
        return listing(
            args,
            found,
            "nothing parked",
            lambda p: (
                f"#{p['id']:<5} {p['stage']:8} {p['state']:8} {p['created_at'][:16]}  {p['error']}"
            ),
        )

    return await with_context(settings, run)


async def cmd_parked_retry(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import DrainReport, handle

    async def run(ctx: Context) -> int:
        try:
            stage, key, payload = await parked.take_for_retry(ctx, args.id, actor(args))
        except LookupError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if stage != "intake" or payload is None:
            print(f"stage {stage} cannot be replayed from here", file=sys.stderr)
            return 1
        report = DrainReport()
        await handle(ctx, InboundItem(source_key=key, mailbox="parked", raw=payload), report)
        if report.parked:
            print(f"parked item {args.id} failed again and was parked anew")
            return 1
        r = report.results[0]
        print(f"parked item {args.id}: {r.outcome.value} {r.case_ref or ''}".rstrip())
        return 0

    return await with_context(settings, run)
