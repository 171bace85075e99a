"""Items that failed at a stage: ``parked list`` and ``parked retry ID``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

from hub.cli.common import Commands, actor, listing, safe, with_context
from hub.config import Settings
from hub.ports import InboundItem
from hub.services import outbox, parked, sweep
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
                f"#{p['id']:<5} {p['stage']:8} {p['state']:8} {p['created_at'][:16]}  "
                f"{safe(p['error'])}"
            ),
        )

    return await with_context(settings, run)


async def cmd_parked_retry(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            stage, key, payload = await parked.take_for_retry(ctx, args.id, actor(args))
            outcome = await REPLAY[stage](ctx, key, payload)
        except LookupError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if outcome is None:
            print(f"parked item {args.id} failed again and was parked anew")
            return 1
        print(f"parked item {args.id}: {outcome}".rstrip())
        return 0

    return await with_context(settings, run)


# Each stage replays through its own code; None means it failed (and was parked) again.
Replay = Callable[[Context, str, bytes | None], Awaitable[str | None]]


async def _replay_mail(ctx: Context, key: str, payload: bytes | None, stage: str) -> str | None:
    from hub.runtime import RECORD_OF, DrainReport, handle

    if payload is None:
        raise LookupError(f"parked {stage} item {key} kept no message to replay")
    report = DrainReport()
    item = InboundItem(source_key=key, mailbox="parked", raw=payload)
    await handle(ctx, item, report, RECORD_OF[stage])
    if report.parked:
        return None
    r = report.results[0]
    return f"{r.outcome.value} {r.case_ref or ''}"


async def _replay_intake(ctx: Context, key: str, payload: bytes | None) -> str | None:
    return await _replay_mail(ctx, key, payload, "intake")


async def _replay_reply(ctx: Context, key: str, payload: bytes | None) -> str | None:
    return await _replay_mail(ctx, key, payload, "replies")


async def _replay_outbox(ctx: Context, key: str, payload: bytes | None) -> str | None:
    from hub.runtime import make_sender

    outbox_id = int(key.removeprefix("outbox:"))
    await outbox.requeue(ctx, outbox_id)
    await outbox.deliver_due(ctx, make_sender(ctx.settings))
    state = await outbox.state_of(ctx, outbox_id)
    return None if state == "parked" else f"outgoing mail {outbox_id} {state}"


async def _replay_sweep(ctx: Context, key: str, payload: bytes | None) -> str | None:
    report = await sweep.replay(ctx, key)
    return None if key in report.parked else f"{key} swept"


REPLAY: dict[str, Replay] = {
    "intake": _replay_intake,
    "replies": _replay_reply,
    "outbox": _replay_outbox,
    "sweep": _replay_sweep,
}
