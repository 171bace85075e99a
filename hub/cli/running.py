"""Running the hub: ``serve`` until stopped, or one pass of ``intake --once`` and
``outbox deliver`` (for cron, tests and recovery)."""

from __future__ import annotations

import argparse
import logging

from hub.cli.common import Commands, print_json, with_context
from hub.cli.setup import senders_gate
from hub.config import Settings, advisories
from hub.services.context import Context
from hub.services.outbox import deliver_due

log = logging.getLogger("hub.cli")


def register(commands: Commands) -> None:
    commands.add("serve", cmd_serve, "run intake and the outbox until stopped (SIGTERM)")
    p = commands.add("intake", cmd_intake, "drain the mailbox, deliver the outbox, exit")
    p.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="drain once and exit (the only mode; `serve` runs continuously)",
    )
    p.add_argument("--json", action="store_true")
    outbox = commands.group("outbox", "outgoing mail")
    commands.add("deliver", cmd_outbox_deliver, "send what is due now", outbox)


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import serve
    from hub.supervision import arm_exit_deadline

    refused = senders_gate(settings)
    if refused is not None:
        return refused
    for note in advisories(settings):
        log.warning("event=settings.suspect %s", note)

    async def run(ctx: Context) -> int:
        from hub.web.app import run_web

        assert ctx.ring is not None
        ring = ctx.ring
        code = 1
        try:
            await serve(ctx, lambda: run_web(ctx, ring))
            code = 0
        finally:
            # Stopped (or failed): leave within a bound, even if a thread will not end.
            arm_exit_deadline(code)
        return code

    return await with_context(settings, run)


async def cmd_intake(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import drain, file_replies, make_reply_source, make_sender, make_source

    refused = senders_gate(settings)  # the same mail as `serve` reads, the same rule
    if refused is not None:
        return refused

    async def run(ctx: Context) -> int:
        source = make_source(settings)
        try:
            report = await drain(ctx, source)
        finally:
            await source.close()
        replies = make_reply_source(settings)
        filed = 0
        if replies is not None:
            try:
                filed = (await drain(ctx, replies, record=file_replies)).total
            finally:
                await replies.close()
        sent = await deliver_due(ctx, make_sender(settings))
        summary = {**report.outcomes, "parked": report.parked, "replies": filed, "mail_sent": sent}
        if args.json:
            print_json(summary)
        else:
            print("intake: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.items())))
            for r in report.results:
                if r.case_ref and not r.already:
                    print(f"  {r.case_ref}  {r.outcome.value}")
        return 0

    return await with_context(settings, run)


async def cmd_outbox_deliver(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import make_sender

    async def run(ctx: Context) -> int:
        print(f"sent {await deliver_due(ctx, make_sender(settings))}")
        return 0

    return await with_context(settings, run)
