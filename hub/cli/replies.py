"""Agencies' email replies that matched no request: ``replies list`` and ``replies file``."""

from __future__ import annotations

import argparse

from hub.cli.common import Commands, actor, fail, listing, safe, with_context
from hub.config import Settings
from hub.services import replies
from hub.services.context import Context


def register(commands: Commands) -> None:
    group = commands.group("replies", "agencies' email replies")
    p = commands.add("list", cmd_replies_list, "replies that matched no request", group)
    p.add_argument("--json", action="store_true")
    p = commands.add("file", cmd_replies_file, "file an unmatched reply on a request", group)
    p.add_argument("id", type=int)
    p.add_argument("--request", required=True, help="RQ- reference")


async def cmd_replies_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await replies.list_unmatched(ctx, actor(args))
        return listing(
            args,
            found,
            "no unmatched replies",
            lambda r: (
                f"#{r['id']:<5} {str(r['received_at'])[:16]}  {safe(r['sender'] or '-')}  "
                f"{safe(r['subject'] or '')}\n       why: {safe(r['reason'])}"
            ),
        )

    return await with_context(settings, run)


async def cmd_replies_file(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            await replies.file_by_hand(ctx, args.id, args.request, actor(args))
        except LookupError as exc:
            return fail(exc)
        print(f"reply #{args.id} filed on {args.request}")
        return 0

    return await with_context(settings, run)
