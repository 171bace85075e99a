"""Intake against django-helpdesk: both whole processes, the same mails, the same Dovecot.

Run: .venv/bin/python -m tests.bench.bench_intake_vs_helpdesk [--mails 500] [--runs 5]
     [--helpdesk-python /tmp/helpdesk-venv/bin/python] [--security starttls|plain]
The peer lives in its own virtual environment (see tests/bench/helpdesk_peer.py for the
two commands that install it); it is never a dependency of the hub.

One Dovecot with two users holds the same N referral mails (byte for byte) in each
user's INBOX before every run. Each run, alternating which goes first:
- the hub: ``marrac-hub intake --once`` as a new process (through tests.bench.hub_probe,
  which only timestamps commits and the outbox delivery), on a fresh copy of an
  initialised data directory with SQLite, reading its mailbox over IMAP. Its figure is
  process start -> last case committed; the outbox delivery that follows (to an SMTP
  sink in this process) is reported on its own line, with the process exit;
- django-helpdesk 2.6.1: ``manage.py get_email`` as a new process on a fresh copy of a
  migrated SQLite database with one IMAP queue, timed from process start to exit (it
  sends its acknowledgements as it goes, so they are inside its figure).
Both read over STARTTLS by default (django-helpdesk always tries STARTTLS). Medians over
the runs, and their ratio. For context, a bare imapclient fetch (batches of 100) and a
bare imaplib fetch one message at a time by sequence number (django-helpdesk's pattern).
Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.dovecot import DovecotServer
from tests.support.hub import PASSWORD, REFERRALS, settings_dict, write_config
from tests.support.referrals import referral
from tests.support.smtp_server import SmtpServer

ROOT = Path(__file__).parents[2]
PEER = Path(__file__).with_name("helpdesk_peer.py")
HELPDESK_USER = "helpdesk@hub.test"
BATCH = 100
#: A referral's summary is a narrative; about 10.8 KB of it makes the 500 mails 5.9 MB,
#: the size of the corpus behind the peer figures in ../shared/notes/test-services.md.
SENTENCE = (
    "Officers attended following a call from the victim, who reported that her partner "
    "had shouted, thrown a mug and blocked the door; the children were upstairs. "
)


def narrative(n: int, chars: int) -> str:
    """A summary of about ``chars`` characters, wrapped at 72 columns, unique to ``n``."""
    text = f"Referral {n}. " + SENTENCE * (chars // len(SENTENCE) + 1)
    return textwrap.fill(text[:chars], 72)


@dataclass
class Figures:
    """Seconds per run, by measure."""

    runs: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.runs.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.runs[name])


def load_mailbox(dovecot: DovecotServer, user: str, mails: list[bytes]) -> None:
    """Empty every folder of ``user``, then APPEND ``mails`` to its INBOX."""
    dovecot.purge(user)
    with dovecot.imap_client(user) as client:
        for raw in mails:
            client.append("INBOX", raw)
    assert dovecot.count(user) == len(mails)


def bare_fetch(dovecot: DovecotServer, user: str) -> tuple[float, float]:
    """Messages per second: imapclient in batches, then imaplib one by one (read-only)."""
    with dovecot.imap_client(user) as client:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        started = time.perf_counter()
        got = sum(
            len(client.fetch(uids[i : i + BATCH], [b"BODY.PEEK[]"]))
            for i in range(0, len(uids), BATCH)
        )
        batched = got / (time.perf_counter() - started)
    imap = imaplib.IMAP4("127.0.0.1", dovecot.imap_port)
    try:
        imap.login(user, PASSWORD)
        imap.select("INBOX", readonly=True)
        numbers = imap.search(None, "ALL")[1][0].split()
        started = time.perf_counter()
        for num in numbers:
            imap.fetch(num, "(BODY.PEEK[])")
        single = len(numbers) / (time.perf_counter() - started)
    finally:
        imap.logout()
    return batched, single


def run_process(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Start ``argv``; return the seconds until it exits (it must exit 0)."""
    started = time.monotonic()
    proc = subprocess.run(
        argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return elapsed


def sqlite_count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


class Hub:
    """An initialised hub data directory, copied fresh for every run."""

    def __init__(self, work: Path, dovecot: DovecotServer, smtp: SmtpServer, security: str):
        self.work, self.dovecot, self.smtp, self.security = work, dovecot, smtp, security
        self.template = work / "hub-template"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        run_process(
            [sys.executable, "-m", "hub.cli", "init", "--config", str(self.config(self.template))],
            self.env,
        )

    def config(self, data_dir: Path) -> Path:
        intake: dict[str, object] = {"imap_security": self.security, "batch_size": BATCH}
        if self.security != "plain":
            intake["ca_file"] = self.dovecot.ca_file
        raw = settings_dict(
            data_dir,
            f"sqlite+aiosqlite:///{data_dir}/hub.db",
            imap_port=self.dovecot.imap_port,
            smtp_port=self.smtp.port,
            intake=intake,
            outbox={"poll_seconds": 2},
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        return write_config(data_dir.parent / f"{data_dir.name}.toml", raw)

    def run(self, n: int, figures: Figures, index: int) -> None:
        data = self.work / f"hub-{index}"
        shutil.copytree(self.template, data)
        config = self.config(data)
        marks_file = self.work / f"hub-{index}.json"
        self.smtp.clear()
        started = time.monotonic()
        total = run_process(
            [
                sys.executable,
                "-m",
                "tests.bench.hub_probe",
                "intake",
                "--once",
                "--config",
                str(config),
            ],
            {**self.env, "MARRAC_BENCH_MARKS": str(marks_file)},
        )
        marks = json.loads(marks_file.read_text())
        deliver_start, deliver_end = marks["deliver"][0], marks["deliver"][-1]
        last_case = max(t for t in marks["commits"] if t <= deliver_start)
        cases = sqlite_count(data / "hub.db", "cases")
        assert cases == n, f"the hub made {cases} cases from {n} mails"
        assert self.dovecot.count(REFERRALS, "Processed") == n
        figures.add("hub", last_case - started)
        figures.add("hub first commit", marks["commits"][0] - started)
        figures.add("hub delivery", deliver_end - deliver_start)
        figures.add("hub exit", total)
        figures.add("hub mails", len(self.smtp.received))
        shutil.rmtree(data)


class Helpdesk:
    """A migrated django-helpdesk database with one IMAP queue, copied fresh for every run."""

    def __init__(self, work: Path, python: str, dovecot: DovecotServer, smtp: SmtpServer):
        self.work, self.python, self.dovecot, self.smtp = work, python, dovecot, smtp
        self.template = work / "helpdesk-template"
        run_process(
            [python, str(PEER), "--dir", str(self.template), "setup", "--imap-port",
             str(dovecot.imap_port), "--user", HELPDESK_USER, "--password", PASSWORD,
             "--smtp-port", str(smtp.port)]
        )  # fmt: skip

    def run(self, n: int, figures: Figures, index: int) -> None:
        data = self.work / f"helpdesk-{index}"
        shutil.copytree(self.template, data)
        self.smtp.clear()
        total = run_process([self.python, str(PEER), "--dir", str(data), "get_email"])
        tickets = sqlite_count(data / "db.sqlite3", "helpdesk_ticket")
        assert tickets == n, f"django-helpdesk made {tickets} tickets from {n} mails"
        figures.add("helpdesk", total)
        figures.add("helpdesk mails", len(self.smtp.received))
        shutil.rmtree(data)


def one_round(
    index: int, hub: Hub, helpdesk: Helpdesk, mails: list[bytes], figures: Figures
) -> None:
    """Load both mailboxes, then run both, the hub first on even rounds."""
    dovecot = hub.dovecot
    load_mailbox(dovecot, REFERRALS, mails)
    load_mailbox(dovecot, HELPDESK_USER, mails)
    batched, single = bare_fetch(dovecot, REFERRALS)
    figures.add("bare imapclient", batched)
    figures.add("bare imaplib single", single)
    figures.add("load before", os.getloadavg()[0])
    order = (hub, helpdesk) if index % 2 == 0 else (helpdesk, hub)
    for side in order:
        side.run(len(mails), figures, index)
    print(
        f"run {index + 1}: hub {figures.runs['hub'][-1]:.3f} s to last case, "
        f"helpdesk {figures.runs['helpdesk'][-1]:.3f} s, "
        f"load {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({model}), {mem:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def report(figures: Figures, n: int, size: int, args: argparse.Namespace) -> None:
    hub, peer = figures.median("hub"), figures.median("helpdesk")
    runs = len(figures.runs["hub"])
    loads = figures.runs["load before"]
    print(f"machine: {machine()}")
    print(f"load average (1 min) before runs: {min(loads):.2f}..{max(loads):.2f}")
    print(f"{n} referral mails, {size / 1e6:.1f} MB, IMAP {args.security}, {runs} runs, medians")
    print()
    print("| measure | seconds (median) | messages/s | runs (s) |")
    print("|---|---:|---:|---|")
    for name, label in (
        ("hub", "hub: process start -> last case committed"),
        ("hub first commit", "hub: process start -> first batch committed"),
        ("helpdesk", "django-helpdesk `get_email`: process start -> exit"),
    ):
        runs_s = ", ".join(f"{v:.2f}" for v in figures.runs[name])
        rate = n / figures.median(name)
        print(f"| {label} | {figures.median(name):.3f} | {rate:.0f} | {runs_s} |")
    mails = int(figures.median("hub mails"))
    print(
        f"| hub: outbox delivery afterwards ({mails} mails) | {figures.median('hub delivery'):.3f}"
        f" | {mails / figures.median('hub delivery'):.0f} mails/s | |"
    )
    print(f"| hub: process start -> exit | {figures.median('hub exit'):.3f} | | |")
    print()
    print(
        f"ratio (helpdesk / hub to last case): **{peer / hub:.1f}x**; "
        f"to hub exit, delivery included: {peer / figures.median('hub exit'):.1f}x"
    )
    print(f"django-helpdesk sent {int(figures.median('helpdesk mails'))} mails inside its time")
    batched, single = figures.median("bare imapclient"), figures.median("bare imaplib single")
    print(
        f"bare imapclient fetch, batches of {BATCH}: {batched:.0f} msg/s; "
        f"bare imaplib, one FETCH per message: {single:.0f} msg/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--helpdesk-python", default="/tmp/helpdesk-venv/bin/python")
    parser.add_argument("--summary-chars", type=int, default=10_800)
    parser.add_argument("--security", choices=["starttls", "plain"], default="starttls")
    args = parser.parse_args()
    mails = [
        referral(300_000 + i, summary=narrative(i, args.summary_chars)) for i in range(args.mails)
    ]
    figures = Figures()
    with (
        tempfile.TemporaryDirectory(prefix="bih-") as tmp,
        DovecotServer(users=(REFERRALS, HELPDESK_USER, "team-leader.south@hub.test")) as dovecot,
        SmtpServer(local_domains=()) as smtp,
    ):
        work = Path(tmp)
        hub = Hub(work, dovecot, smtp, args.security)
        helpdesk = Helpdesk(work, args.helpdesk_python, dovecot, smtp)
        for index in range(args.runs):
            one_round(index, hub, helpdesk, mails, figures)
    report(figures, args.mails, sum(len(m) for m in mails), args)


if __name__ == "__main__":
    main()
