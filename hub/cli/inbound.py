"""Mail that became no case: ``quarantine list``, ``machine-mail list``, ``duplicates
list``."""

from __future__ import annotations

import argparse

from hub.cli.common import Command, Commands, actor, listing, safe, with_context
from hub.config import Settings
from hub.services import cases
from hub.services.context import Context

# Intake outcome -> the command group that lists it.
GROUPS = (("quarantine", "quarantine"), ("machine", "machine-mail"), ("duplicate", "duplicates"))


def register(commands: Commands) -> None:
    for outcome, name in GROUPS:
        group = commands.group(name, f"{outcome} mail")
        p = commands.add("list", list_command(outcome), f"list {outcome} mail", group)
        p.add_argument("--json", action="store_true")


def list_command(outcome: str) -> Command:
    """The ``list`` command of the inbound mail that intake gave ``outcome``."""

    async def cmd(settings: Settings, args: argparse.Namespace) -> int:
        async def run(ctx: Context) -> int:
            found = await cases.list_inbound(ctx, outcome, actor(args))
            return listing(
                args,
                found,
                f"no {outcome} mail",
                lambda m: (
                    f"#{m['id']:<6} {m['received_at'][:16]}  {safe(m['sender'] or '-')}  "
                    f"{safe(m['reason'])}"
                ),
            )

        return await with_context(settings, run)

    return cmd
