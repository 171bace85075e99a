"""Logging set-up: structured ``event=...`` lines from our code, and silence from the
libraries that would echo protocol traffic (imapclient logs whole messages at DEBUG,
the database drivers log bound parameters): personal data never reaches a log."""

from __future__ import annotations

import logging
import sys

# Loggers that see message bodies, addresses or SQL parameters.
QUIET = (
    "imapclient",
    "aiosmtplib",
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
    "alembic",
    "asyncio",
    "mail.log",
    "apscheduler",
)


def configure(verbose: bool = False) -> None:
    """Log to stderr; ``verbose`` adds our own DEBUG lines, never the libraries'."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    quiet_libraries()


def quiet_libraries() -> None:
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
