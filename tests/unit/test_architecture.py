"""The shape of the code: dependencies point inwards, and one clock reads the time."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _py(*dirs: str) -> list[Path]:
    return [p for d in dirs for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts]


def test_the_domain_imports_nothing_of_ours_and_does_no_io() -> None:
    banned = re.compile(r"^(hub\.(?!domain)|connectors|sqlalchemy|aiohttp|imapclient|aiosmtplib)")
    for path in _py("hub/domain"):
        bad = {m for m in _imports(path) if banned.match(m)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_crypto_uses_only_the_standard_library_and_pynacl() -> None:
    for path in _py("hub/crypto"):
        bad = {
            m
            for m in _imports(path)
            if (m.startswith("hub.") and not m.startswith("hub.crypto"))
            or m.split(".")[0] in {"sqlalchemy", "aiohttp", "connectors"}
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_nothing_imports_the_cli_or_the_web_layer() -> None:
    for path in _py("hub", "connectors"):
        if path.name == "cli.py" or "web" in path.parts:
            continue
        bad = {m for m in _imports(path) if m in ("hub.cli",) or m.startswith("hub.web")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_the_clock_reads_the_wall_clock() -> None:
    pattern = re.compile(r"datetime\.(now|utcnow)\(|\butcnow\(|time\.time\(")
    for path in _py("hub", "connectors"):
        if path == ROOT / "hub" / "clock.py":
            continue
        assert not pattern.search(path.read_text()), f"{path.relative_to(ROOT)} reads the clock"
