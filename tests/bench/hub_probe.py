"""``marrac-hub`` with timestamps: every database commit and the outbox delivery.

Run as ``python -m tests.bench.hub_probe <marrac-hub arguments>`` with
``MARRAC_BENCH_MARKS=path.json``: the command runs exactly as ``python -m hub.cli``
would, and at its end the JSON file holds ``time.monotonic()`` marks (system-wide on
Linux, so comparable with the parent's): ``commits`` (after each committed
transaction), ``deliver`` (start and end of each ``deliver_due``) and ``main_end``.
The intake benchmark reads the last commit before delivery began as "last case
committed". Nothing in the hub is changed; the probe only listens.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

MARKS: dict[str, list[float]] = {"commits": [], "deliver": [], "main_end": []}


def _committed(session: Session) -> None:
    MARKS["commits"].append(time.monotonic())


def _time_delivery() -> None:
    import hub.cli.running as running

    original = running.deliver_due

    async def timed(*args: Any, **kwargs: Any) -> Any:
        MARKS["deliver"].append(time.monotonic())
        try:
            return await original(*args, **kwargs)
        finally:
            MARKS["deliver"].append(time.monotonic())

    running.deliver_due = timed  # type: ignore[assignment]


def main() -> int:
    event.listen(Session, "after_commit", _committed)
    _time_delivery()
    from hub.cli import main as hub_main

    try:
        return hub_main(sys.argv[1:])
    finally:
        MARKS["main_end"].append(time.monotonic())
        with open(os.environ["MARRAC_BENCH_MARKS"], "w") as out:
            json.dump(MARKS, out)


if __name__ == "__main__":
    sys.exit(main())
