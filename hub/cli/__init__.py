"""The ``marrac-hub`` command: set up, run, and look at cases from a terminal.

Every command takes ``--config PATH`` (default ``$MARRAC_HUB_CONFIG``, then
``./hub.toml``). Reads of personal data are audited under ``--actor`` (default
``$MARRAC_HUB_ACTOR``, then the operating-system user).
Exit codes: 0 done, 1 not found or failed, 2 bad settings or usage.

Each command group is a module with a ``register(commands)`` function; the order of
:data:`GROUPS` is the order ``marrac-hub --help`` lists them in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from types import ModuleType

from hub import __version__, logs
from hub.cli import (
    cases,
    deadlines,
    inbound,
    info_requests,
    integrity,
    keys,
    parked,
    replies,
    running,
    setup,
)
from hub.cli.common import Commands, common_options
from hub.config import ConfigError, default_path, load
from hub.crypto.keys import KeyFileError

GROUPS: tuple[ModuleType, ...] = (
    setup,
    running,
    cases,
    deadlines,
    inbound,
    parked,
    info_requests,
    replies,
    integrity,
    keys,
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every group's subcommands, each with the common options."""
    parser = argparse.ArgumentParser(prog="marrac-hub", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"marrac-hub {__version__}")
    common = common_options(parser)
    commands = Commands(parser.add_subparsers(dest="command", required=True), common)
    for group in GROUPS:
        group.register(commands)
    return parser


# Everything the hub writes (database, WAL, key files, logs, the demo's Maildirs) is
# for its own user only, whatever umask the shell or service manager left behind.
PRIVATE_UMASK = 0o077


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code."""
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    logs.configure(verbose=args.verbose)
    if getattr(args, "sync_fn", None) is not None:
        try:
            return int(args.sync_fn(args))
        except (ConfigError, KeyFileError) as exc:
            print(f"marrac-hub: {exc}", file=sys.stderr)
            return 2
    try:
        settings = load(args.config or default_path())
    except ConfigError as exc:
        print(f"marrac-hub: bad settings: {exc}", file=sys.stderr)
        return 2
    try:
        code = int(asyncio.run(args.fn(settings, args)))
        sys.stdout.flush()  # here, where a closed pipe is caught, rather than at exit
        return code
    except KeyFileError as exc:
        print(f"marrac-hub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): end quietly, and keep Python's own flush of
        # standard output at exit from failing again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
