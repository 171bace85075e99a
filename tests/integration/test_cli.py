"""The `marrac-hub` command end to end, as an operator types it: every command, its
exit code, and its JSON against the published schemas. Embedded Maildir mailbox and mail
drop (the demo's connectors), SQLite."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema

from tests.support.agencies import SCHOOL, agencies, write_directory
from tests.support.hub import FIXTURES, write_config

ROOT = Path(__file__).parents[2]
SCHEMAS = ROOT / "schemas"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


class Hub:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = write_config(
            tmp / "hub.toml",
            {
                "hub": {"data_dir": str(tmp / "var")},
                "intake": {"source": "maildir", "maildir": str(tmp / "inbox")},
                "smtp": {"transport": "maildir", "maildir": str(tmp / "sent")},
                "alerts": {"team_leaders": ["team-leader.south@hub.test"]},
                "agencies": {"file": str(tmp / "agencies.toml")},
            },
        )
        write_directory(tmp / "agencies.toml", agencies(only=(SCHOOL,)))

    def run(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT), "MARRAC_HUB_ACTOR": "cli-test"},
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json"))

    def deliver(self, name: str) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.tmp / "inbox" / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / "referrals" / name, self.tmp / "inbox" / "new" / name)


def test_every_command_works_from_a_terminal(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    assert "keys in" in hub.run("init")
    assert "settings OK" in hub.run("check-config")
    for name in ("01-case-study.eml", "07-not-allowlisted.eml", "05-missing-fields.eml"):
        hub.deliver(name)
    summary = hub.json("intake", "--once")
    assert summary["case"] == 1 and summary["triage"] == 1 and summary["quarantine"] == 1  # type: ignore[index]
    cases = hub.json("cases", "list")
    assert isinstance(cases, list) and len(cases) == 2
    for case in cases:
        jsonschema.validate(case, schema("case.schema.json"))
    ref = next(c["ref"] for c in cases if c["status"] == "open")
    assert "Emma Clarke" in hub.run("cases", "show", ref)
    hub.run("cases", "show", "MR-1999-000001", code=1)
    quarantined = hub.json("quarantine", "list")
    assert isinstance(quarantined, list) and len(quarantined) == 1
    jsonschema.validate(quarantined[0], schema("quarantine-entry.schema.json"))
    assert "nothing parked" in hub.run("parked", "list")
    assert "no unmatched replies" in hub.run("replies", "list")
    hub.run("replies", "file", "99", "--request", "RQ-2026-000001", code=1)

    # Requests, casework and the sweep
    assert "added 1" in hub.run("agencies", "sync")
    out = hub.run(
        "requests",
        "create",
        "--case",
        ref,
        "--agency",
        "st-aidans-primary",
        "--person",
        "child",
        "--within",
        "24h",
    )
    rq_ref = out.split()[0]
    listed = hub.json("requests", "list")
    assert isinstance(listed, list)
    jsonschema.validate(listed[0], schema("request-summary.schema.json"))
    shown = hub.json("requests", "show", rq_ref)
    jsonschema.validate(shown["envelope"], schema("signed-envelope.schema.json"))  # type: ignore[index]
    (tmp_path / "envelope.json").write_text(json.dumps(shown["envelope"]))  # type: ignore[index]
    assert hub.run("verify", str(tmp_path / "envelope.json")).startswith("VALID")
    hub.run("cases", "allocate", ref, "--to", "cc@hub.test")
    assert hub.run("cases", "plan", ref, "--agreed").strip().endswith("48-hour milestone met")
    hub.run("sweep", "--now", "2099-01-01T09:00:00+00:00")
    alerts = hub.json("alerts", "list")
    assert isinstance(alerts, list) and alerts
    for alert in alerts:
        jsonschema.validate(alert, schema("alert.schema.json"))
    evidence = json.loads(hub.run("requests", "evidence", rq_ref))
    assert evidence["mails"] and all(
        m["server_reply"] for m in evidence["mails"] if m["state"] == "sent"
    )
    hub.run("requests", "withdraw", rq_ref)
    hub.run("requests", "withdraw", rq_ref, code=1)  # already withdrawn: a clear refusal
    hub.run("cases", "review", ref, "--risk", "Medium")
    assert "closure notice queued to 1 agency" in hub.run(
        "cases", "close", ref, "--reason", "plan delivered"
    )
    assert "audit chain intact" in hub.run("audit", "verify")


def test_bad_settings_exit_2_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[intake]\nsource = "imap"\nimap_host = "mail.example"\n'
        'imap_security = "plain"\npassword = "x"\n[alerts]\nteam_leaders = ["a@b.c"]\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "check-config", "--config", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2
    assert "loopback" in done.stderr


def test_a_parked_message_is_listed_alerted_and_replayed_by_one_command(tmp_path: Path) -> None:
    import asyncio

    from hub.config import load
    from hub.services import parked
    from hub.services.context import open_context

    hub = Hub(tmp_path)
    hub.run("init")
    raw = (FIXTURES / "referrals" / "02-cp1252-quoted-printable.eml").read_bytes()

    async def park() -> int:
        ctx = await open_context(load(hub.config, env={}))
        try:
            try:
                raise RuntimeError("disk full while writing Zoë's case")  # an unexpected bug
            except RuntimeError as exc:
                return await parked.park(ctx, "intake", "imap:test:1:7", exc, raw)
        finally:
            await ctx.close()

    parked_id = asyncio.run(park())
    listed = hub.json("parked", "list")
    assert isinstance(listed, list) and listed[0]["id"] == parked_id
    assert "Zoë" not in json.dumps(listed)  # the error text is not kept: it may quote people
    hub.run("outbox", "deliver")
    sent = list((tmp_path / "sent" / "new").iterdir())
    assert any(b"Processing failure parked" in p.read_bytes() for p in sent)
    replayed = hub.run("parked", "retry", str(parked_id)).strip()
    assert re.fullmatch(rf"parked item {parked_id}: case MR-\d{{4}}-\d{{6}}", replayed), replayed
    assert len(hub.json("cases", "list")) == 1  # type: ignore[arg-type]
    assert hub.run("parked", "list").strip() == "nothing parked"
    hub.run("parked", "retry", str(parked_id), code=1)  # once only
