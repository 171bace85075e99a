"""Files are private: whatever umask the shell left behind, what the hub writes (database,
WAL, key files, the demo's Maildirs) is readable by the hub's own user only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.integration.test_cli import Hub


def _loose(root: Path) -> list[str]:
    """Every file or folder under ``root`` that its group or others could open."""
    return [
        f"{path.relative_to(root)} {stat.filemode(path.stat().st_mode)}"
        for path in [root, *root.rglob("*")]
        if path.stat().st_mode & 0o077
    ]


def test_a_command_run_under_a_loose_umask_writes_private_files(tmp_path: Path) -> None:
    # Given a shell whose umask lets everyone read what it creates
    previous = os.umask(0o022)
    try:
        hub = Hub(tmp_path)
        hub.run("init")
        hub.deliver("01-case-study.eml")
        # When the hub takes in a referral (database, WAL) and mails its acknowledgement
        hub.run("intake", "--once")
    finally:
        os.umask(previous)
    var, sent = tmp_path / "var", tmp_path / "sent"
    database = [p for p in var.rglob("*") if p.is_file() and ".key" not in p.name]
    assert any(p.suffix in (".db", ".sqlite", ".sqlite3") for p in database), database
    # Then nothing it wrote is open to the group or to others
    assert _loose(var) == []
    assert sent.exists() and _loose(sent) == []
