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
                "intake": {
                    "source": "maildir",
                    "maildir": str(tmp / "inbox"),
                    "allow_unauthenticated": True,
                },
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


def senders_config(tmp: Path, name: str, **intake: object) -> Path:
    """A demo-style settings file whose ``[intake]`` takes ``intake``'s keys."""
    return write_config(
        tmp / f"{name}.toml",
        {
            "hub": {"data_dir": str(tmp / "var")},
            "intake": {"source": "maildir", "maildir": str(tmp / "inbox"), **intake},
            "smtp": {"transport": "maildir", "maildir": str(tmp / "sent")},
            "alerts": {"team_leaders": ["team-leader.south@hub.test"]},
            "web": {"port": 0},
        },
    )


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_without_sender_authentication_the_hub_refuses_to_read_mail(tmp_path: Path) -> None:
    # Given settings with no trusted_authserv_id and no explicit opt-out
    config = senders_config(tmp_path, "default")
    assert cli(config, "init").returncode == 0
    # Then check-config, serve and intake --once refuse, naming both ways out
    for args in (("check-config",), ("serve",), ("intake", "--once")):
        done = cli(config, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "trusted_authserv_id" in done.stderr and "allow_unauthenticated" in done.stderr
        assert "settings OK" not in done.stdout
    # A trusted server is enough, and check-config says which
    trusted = cli(
        senders_config(tmp_path, "trusted", trusted_authserv_id="mx.hub.test"), "check-config"
    )
    assert trusted.returncode == 0 and "authenticated by mx.hub.test" in trusted.stdout
    assert "WARNING" not in trusted.stderr


def test_an_explicit_opt_out_runs_with_a_loud_warning_on_every_start(tmp_path: Path) -> None:
    from tests.support.hub import wait_until
    from tests.support.processes import start_hub

    config = senders_config(tmp_path, "opt-out", allow_unauthenticated=True)
    assert cli(config, "init").returncode == 0
    checked = cli(config, "check-config")
    assert checked.returncode == 0 and "NOT AUTHENTICATED" in checked.stdout
    warnings = [line for line in checked.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 1 and "SENDERS ARE NOT AUTHENTICATED" in warnings[0]
    # serve says it too, on each start
    log = tmp_path / "serve.log"
    for start in (1, 2):
        hub = start_hub(config, log)
        try:
            import asyncio

            asyncio.run(
                wait_until(
                    lambda start=start: (
                        log.read_text().count("SENDERS ARE NOT AUTHENTICATED") == start
                    ),
                    what="the warning in the serve log",
                )
            )
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    lines = [line for line in log.read_text().splitlines() if "NOT AUTHENTICATED" in line]
    assert len(lines) == 2 and all(
        " WARNING hub.cli event=intake.unauthenticated" in ln for ln in lines
    )


def test_the_demo_settings_opt_out_explicitly(tmp_path: Path) -> None:
    from hub.config import load

    demo = load(ROOT / "config" / "demo.toml", env={})
    assert demo.intake.trusted_authserv_id == "" and demo.intake.allow_unauthenticated
    example = load(ROOT / "config" / "hub.example.toml", env={"MARRAC_HUB_IMAP_PASSWORD": "x"})
    assert not example.intake.allow_unauthenticated


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


def test_keys_rotate_each_kind_and_what_was_written_before_still_reads(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.run("init")
    hub.deliver("01-case-study.eml")
    hub.json("intake", "--once")
    ref = next(c["ref"] for c in hub.json("cases", "list") if c["status"] == "open")  # type: ignore[attr-defined]
    hub.run("agencies", "sync")
    out = hub.run("requests", "create", "--case", ref, "--agency", "st-aidans-primary")
    rq_ref = out.split()[0]
    envelope = hub.json("requests", "show", rq_ref)["envelope"]  # type: ignore[index]
    (tmp_path / "envelope.json").write_text(json.dumps(envelope))
    before = hub.json("keys", "list")
    assert isinstance(before, list) and len(before) == 5 and all(k["current"] for k in before)

    # When each kind of key is rotated from the terminal
    for kind in ("signing", "box", "data", "token", "index"):
        said = hub.run("keys", "rotate", kind)
        assert f"{kind} key rotated" in said and "kept for reading" in said

    # Then every old key is listed, dated, and still 0600 on disk
    after = hub.json("keys", "list")
    assert isinstance(after, list) and len(after) == 10
    older = [k for k in after if not k["current"]]
    assert {k["fingerprint"] for k in older} == {k["fingerprint"] for k in before}
    assert all(k["valid_until"] for k in older)
    for key_file in (tmp_path / "var" / "keys").glob("*.key"):
        assert key_file.stat().st_mode & 0o777 == 0o600
    # and what was written before reads back: the case, the request, its signature
    assert "Emma Clarke" in hub.run("cases", "show", ref)
    assert hub.json("requests", "show", rq_ref)["envelope"] == envelope  # type: ignore[index]
    assert hub.run("verify", str(tmp_path / "envelope.json")).startswith("VALID")
    # Re-sealing moves the data to the new key; once done there is nothing left to do
    assert re.search(r"re-sealed [1-9]\d* values", hub.run("keys", "reseal"))
    assert "re-sealed 0 values" in hub.run("keys", "reseal")
    assert "Emma Clarke" in hub.run("cases", "show", ref)


# --- as a new user would type it (issue 8) --------------------------------------------------


def raw_cli(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    """``marrac-hub ARGS`` exactly as typed (the settings file through the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MARRAC_HUB_CONFIG": str(hub.config)},
    )


def test_a_new_user_s_commands_behave(tmp_path: Path) -> None:
    import sqlite3

    hub = Hub(tmp_path)
    hub.run("init")
    hub.deliver("01-case-study.eml")
    hub.run("intake", "--once")
    hub.run("agencies", "sync")
    ref = hub.json("cases", "list")[0]["ref"]  # type: ignore[index]
    # --actor before the subcommand is the audit trail's actor
    done = raw_cli(hub, "--actor", "team-leader", "cases", "show", ref.lower())
    assert done.returncode == 0 and "Emma Clarke" in done.stdout, done.stderr
    with sqlite3.connect(tmp_path / "var" / "hub.db") as db:
        actors = [a for (a,) in db.execute("select actor from audit_events")]
    assert "cli:team-leader" in actors
    # Case references in any letter case; --within in working days
    out = hub.run(
        "requests", "create", "--case", ref.lower(), "--agency", SCHOOL, "--within", "5wd"
    )
    assert out.startswith("RQ-")
    # An unknown case fails like every other command
    hub.run("requests", "list", "--case", "MR-1999-000001", code=1)
    # agencies list exists
    assert SCHOOL in hub.run("agencies", "list")
    # The digest on demand
    assert "digest:" in hub.run("digest", "--now")


def test_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.run("init")
    hub.run("agencies", "sync")
    # The reader of standard output has gone (``| head`` read what it wanted): the
    # command's output meets a closed pipe.
    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "from hub.cli import main\n"
        f"sys.exit(main(['agencies', 'list', '--json', '--config', {str(hub.config)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.stderr == "" and done.returncode == 0, done.stderr


def test_agencies_sync_refuses_a_malformed_or_empty_directory(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    hub.run("init")
    hub.run("agencies", "sync")
    for text in ('agency = "st-aidans"\n', "[agency]\nslug = 1\n", "[[agency]\nslug"):
        (tmp_path / "bad.toml").write_text(text)
        done = raw_cli(hub, "agencies", "sync", "--file", str(tmp_path / "bad.toml"))
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("marrac-hub: ")
    (tmp_path / "empty.toml").write_text("# nobody yet\n")
    done = raw_cli(hub, "agencies", "sync", "--file", str(tmp_path / "empty.toml"))
    assert done.returncode == 1 and "--force" in done.stderr
    assert " active " in hub.run("agencies", "list")
    hub.run("agencies", "sync", "--file", str(tmp_path / "empty.toml"), "--force")
    assert " active " not in hub.run("agencies", "list")
