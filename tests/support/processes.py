"""``marrac-hub`` as real processes, for tests that kill, race or restart the hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).parents[2]


def start_cli(
    config: Path, *args: str, stderr: int | IO[bytes] = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    """``marrac-hub <args> --config <config>`` in the background, from the source tree."""
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", *args, "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


def start_hub(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``marrac-hub serve`` with its log appended to ``log``."""
    with log.open("ab") as err:
        return start_cli(config, "serve", stderr=err)
