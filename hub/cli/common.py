"""What every command group shares: the parser's common options, printing, the acting
user and opening a context for one command."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
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


def common_options(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The options every subcommand takes. Given the top-level ``parser``, they are added
    to it too, so ``marrac-hub --actor tl cases list`` works as well as ``marrac-hub
    cases list --actor tl``: the subcommand's copies default to "not given"
    (``SUPPRESS``), so they never overwrite what was given before the subcommand."""
    if parser is not None:
        _add_common(parser, None, False)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, argparse.SUPPRESS, argparse.SUPPRESS)
    return common


def _add_common(parser: argparse.ArgumentParser, default: Any, flag_default: Any) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=default,
        help="settings file (default $MARRAC_HUB_CONFIG, then ./hub.toml)",
    )
    parser.add_argument("--actor", default=default, help="who is acting, for the audit trail")
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=flag_default, help="log at debug level"
    )


def reference(text: str) -> str:
    """A case or request reference as typed (``mr-2026-000001``): references are stored
    in capitals, so the one typed matches whatever its case."""
    return text.strip().upper()


def instant(text: str) -> datetime:
    """An ISO 8601 date-time with its zone, as an option's type (``--now``, ``--due``)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time zone (Z or +01:00)")
    return value


# --- outsiders' text on a staff terminal ---------------------------------------------
#
# Answers, replies, referrals and From: headers are written by people outside the hub.
# Printed raw, their control characters drive the terminal (ESC sequences retitle the
# window, OSC 52 writes the clipboard, ESC c resets it) and bidirectional controls show
# text in another order than it is stored. Every such character is printed as a visible
# escape, and outsiders' multi-line text is quoted line by line, so that no line of it
# can pass for a line the hub printed.

QUOTE = "| "  # the hub never begins a line of its own with this
_KEPT = "\t"


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _dangerous(ch: str) -> bool:
    """C0 and C1 controls, DEL, format characters (bidirectional marks, embeddings,
    overrides and isolates, zero-width ones), line and paragraph separators, surrogates."""
    if ch.isprintable():
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def _escape(text: str, keep: str) -> str:
    if text.isprintable():
        return text
    return "".join(_escape_char(ch) if _dangerous(ch) and ch not in keep else ch for ch in text)


def safe(value: object) -> str:
    """An outsider's value as one harmless line: every control, bidirectional and line
    breaking character (newline included) shown as an escape such as ``\\x1b``."""
    return _escape(str(value), _KEPT)


def quoted(value: object, indent: str = "  ") -> str:
    """An outsider's multi-line text, each of its lines escaped as :func:`safe` escapes
    them and begun with ``indent`` and :data:`QUOTE`, so none can fake a line of ours."""
    lines = str(value).replace("\r\n", "\n").split("\n")
    return "\n".join(f"{indent}{QUOTE}{safe(line)}" for line in lines)


def printable(text: str) -> str:
    """A line the hub composed, checked once more before it reaches the terminal: every
    control and bidirectional character escaped, the hub's own newlines kept."""
    return _escape(text, _KEPT + "\n")


def show(lines: Iterable[str]) -> None:
    """Print a ``show`` command's lines, each through :func:`printable`."""
    for line in lines:
        print(printable(line))


def print_json(value: Any) -> None:
    """JSON for a terminal or a pipe: C0 controls are escaped by JSON itself; C1 and
    format characters (only ever inside strings) are escaped as ``\\uXXXX`` too."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    print("".join(f"\\u{ord(ch):04x}" if _dangerous(ch) and ch not in "\n" else ch for ch in text))


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
            print(printable(line(item)))
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
