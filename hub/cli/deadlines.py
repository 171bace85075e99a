"""Deadlines: ``sweep`` sends what the deadlines make due, ``alerts list`` shows what it
sent (warnings, chases, escalations)."""

from __future__ import annotations

import argparse

from hub.cli.common import Commands, instant, listing, with_context
from hub.clock import FrozenClock
from hub.config import Settings
from hub.services import sweep
from hub.services.context import Context
from hub.services.outbox import deliver_due


def register(commands: Commands) -> None:
    p = commands.add(
        "sweep", cmd_sweep, "send what deadlines make due now, then deliver the outbox"
    )
    p.add_argument("--now", type=instant, default=None, help="sweep as of this instant")
    p = commands.add(
        "digest", cmd_digest, "queue and send the daily digest (the scheduler's 08:00 mail)"
    )
    p.add_argument(
        "--now",
        action="store_true",
        help="send a digest as of now, even if today's has gone already",
    )
    group = commands.group("alerts", "warnings, chases, escalations")
    p = commands.add("list", cmd_alerts_list, "what the sweep sent", group)
    p.add_argument("--json", action="store_true")


async def cmd_sweep(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import make_sender

    async def run(ctx: Context) -> int:
        if args.now is not None:
            # Replaying an instant: mail is dated and delivered as of that instant too.
            ctx.clock = FrozenClock(args.now)
        report = await sweep.sweep(ctx)
        sent = await deliver_due(ctx, make_sender(settings))
        print(
            f"sweep: {report.milestones} milestone(s), {report.requests} request(s) looked "
            f"at; {report.steps} step(s) due; {sent} mail(s) sent"
        )
        return 0

    return await with_context(settings, run)


async def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import make_sender

    async def run(ctx: Context) -> int:
        recipients = await sweep.digest(ctx, on_demand=args.now)
        sent = await deliver_due(ctx, make_sender(settings))
        print(f"digest: {recipients} recipient(s); {sent} mail(s) sent")
        return 0

    return await with_context(settings, run)


async def cmd_alerts_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await sweep.alerts_sent(ctx)
        return listing(
            args,
            found,
            "no alerts sent",
            lambda a: (
                f"{a['queued_at'][:16]} {a['subject_ref'] or '-':16} {a['kind']:20} "
                f"{a['step']:14} -> {a['recipient']} ({a['delivery']})"
            ),
        )

    return await with_context(settings, run)
