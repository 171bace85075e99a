"""What every command group shares: the parser's common options, printing, the acting
user and opening a context for one command."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

from hub.config import Settings
from hub.services.context import Context, open_context

# A command that needs the settings (and usually a context): its exit code.
Command = Callable[[Settings, argparse.Namespace], Awaitable[int]]
# A command that runs without settings or database (``verify``): its exit code.
OfflineCommand = Callable[[argparse.Namespace], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@dataclass(frozen=True)
class Commands:
    """Where command groups add their subcommands, each with the common options."""

    subparsers: Subparsers
    common: argparse.ArgumentParser

    def add(
        self, name: str, fn: Command, help: str, group: Subparsers | None = None
    ) -> argparse.ArgumentParser:
        """A subcommand ``name`` (inside ``group``, else at the top) that runs ``fn``."""
        parent = self.subparsers if group is None else group
        parser: argparse.ArgumentParser = parent.add_parser(name, parents=[self.common], help=help)
        parser.set_defaults(fn=fn)
        return parser

    def add_offline(self, name: str, fn: OfflineCommand, help: str) -> argparse.ArgumentParser:
        """A top-level subcommand that runs ``fn`` before any settings are read."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=help
        )
        parser.set_defaults(fn=None, sync_fn=fn)
        return parser

    def group(self, name: str, help: str) -> Subparsers:
        """A top-level noun (``cases``, ``requests``) whose verbs are added to it."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(name, help=help)
        group: Subparsers = parser.add_subparsers(dest="sub", required=True)
        return group


def common_options() -> argparse.ArgumentParser:
    """The options every subcommand takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default $MARRAC_HUB_CONFIG, then ./hub.toml)",
    )
    common.add_argument("--actor", default=None, help="who is acting, for the audit trail")
    common.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    return common


def instant(text: str) -> datetime:
    """An ISO 8601 date-time with its zone, as an option's type (``--now``, ``--due``)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time zone (Z or +01:00)")
    return value


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def fail(message: object) -> int:
    """Say why a command failed, on standard error, and give its exit code (1)."""
    print(f"marrac-hub: {message}", file=sys.stderr)
    return 1


def listing(
    args: argparse.Namespace, found: list[Any], empty: str, line: Callable[[Any], str]
) -> int:
    """A list command's output: the JSON list with --json, else one line per item."""
    if args.json:
        print_json(found)
    elif not found:
        print(empty)
    else:
        for item in found:
            print(line(item))
    return 0


def actor(args: argparse.Namespace) -> str:
    """Who the audit trail names: ``--actor``, ``$MARRAC_HUB_ACTOR``, or the OS user."""
    return "cli:" + (args.actor or os.environ.get("MARRAC_HUB_ACTOR") or getpass.getuser())


async def with_context(settings: Settings, fn: Callable[[Context], Awaitable[int]]) -> int:
    """Run ``fn`` with a context opened from ``settings``, closing it afterwards."""
    ctx = await open_context(settings)
    try:
        return await fn(ctx)
    finally:
        await ctx.close()
