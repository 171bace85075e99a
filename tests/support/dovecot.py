"""A private Dovecot 2.3 instance for tests (IMAP, IMAPS and LMTP on loopback).

Why our own instance: the system package does not start Dovecot here, and tests must
not depend on (or disturb) machine-wide mail configuration. Everything lives in a
short temporary base directory with a self-contained config, on random loopback
ports, and is torn down at the end of the session. See
/work/shared/notes/test-services.md for the facts the choices below rest on.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from imapclient import IMAPClient

from tests.support.services import free_port, port_open

__all__ = [
    "DEFAULT_FOLDERS",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERS",
    "DovecotError",
    "DovecotServer",
    "dovecot_available",
]

DOVECOT_BIN = "/usr/sbin/dovecot"
DEFAULT_PASSWORD = "test-pass"
DEFAULT_USERS: tuple[str, ...] = (
    "marrac-referrals@hub.test",
    "replies@hub.test",
    "team-leader.south@hub.test",
    "coordinator@hub.test",
)
#: Created (and subscribed) for every user at login, besides INBOX.
DEFAULT_FOLDERS: tuple[str, ...] = ("Processed", "Quarantine")


class DovecotError(RuntimeError):
    """Dovecot could not be started or stopped; the message names its log file."""


def dovecot_available(binary: str = DOVECOT_BIN) -> tuple[bool, str]:
    """Whether a Dovecot test instance can be run here, and why not if it cannot."""
    if not os.access(binary, os.X_OK):
        return False, f"{binary} not found (apt-get install -y dovecot-imapd dovecot-lmtpd)"
    if not Path("/usr/lib/dovecot/lmtp").exists():
        return False, "Dovecot LMTP server missing (apt-get install -y dovecot-lmtpd)"
    if shutil.which("openssl") is None:
        return False, "openssl CLI not found (needed for the test certificate)"
    return True, ""


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone (it holds no sockets)."""
    with contextlib.suppress(ChildProcessError, OSError):
        # Reap it if it happens to be our child (e.g. when we are a subreaper).
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _read_greeting(
    host: str, port: int, expect: bytes, deadline: float, *, quit_: bool = False
) -> bytes:
    """Connect, read the server greeting and (with ``quit_``) say QUIT politely."""
    timeout = max(0.1, min(2.0, deadline - time.monotonic()))
    with socket.create_connection((host, port), timeout=timeout) as sock:
        greeting = sock.recv(512)
        if not greeting.startswith(expect):
            raise OSError(f"unexpected greeting from port {port}: {greeting!r}")
        if quit_:
            sock.sendall(b"QUIT\r\n")
            while sock.recv(512):
                pass
    return greeting


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (read from /proc)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


class DovecotServer:
    """One Dovecot instance with passwd-file users, Maildir mail and loopback ports.

    Ports are chosen at the first ``start()`` and kept for the object's lifetime, so
    ``restart()`` (or ``stop()`` + ``start()``) comes back on the same ports with the
    same mail, which is what reconnect tests need. ``close()`` stops it and deletes
    the base directory; it is also registered with ``atexit`` as a safety net so a
    crashed test session does not leave a daemon behind.
    """

    def __init__(
        self,
        users: Iterable[str] = DEFAULT_USERS,
        password: str = DEFAULT_PASSWORD,
        *,
        binary: str = DOVECOT_BIN,
        start_timeout: float = 10.0,
        extra_config: str = "",
    ) -> None:
        #: Appended to the generated config (e.g. an ``imap_capability`` override).
        self._extra_config = extra_config
        self._binary = binary
        self._start_timeout = start_timeout
        self._host = "127.0.0.1"
        self._users: dict[str, str] = {}
        for user in users:
            self._check_user(user, password)
            self._users[user.lower()] = password
        self._base: Path | None = None
        self._imap_port = 0
        self._imaps_port = 0
        self._lmtp_port = 0
        self._running = False
        self._atexit_registered = False
        self._passwd_mtime = 0
        #: Seconds the last ``start()`` took until IMAP answered (for reporting).
        self.last_start_seconds: float | None = None

    # ------------------------------------------------------------------ properties
    @property
    def host(self) -> str:
        return self._host

    @property
    def imap_port(self) -> int:
        return self._need_ports(self._imap_port)

    @property
    def imaps_port(self) -> int:
        return self._need_ports(self._imaps_port)

    @property
    def lmtp_port(self) -> int:
        return self._need_ports(self._lmtp_port)

    @property
    def base_dir(self) -> Path:
        if self._base is None:
            raise DovecotError("DovecotServer has not been started")
        return self._base

    @property
    def ca_file(self) -> str:
        """The self-signed certificate; pass it as ``cafile`` to verify IMAPS."""
        return str(self.base_dir / "tls" / "cert.pem")

    @property
    def cert_file(self) -> str:
        return str(self.base_dir / "tls" / "cert.pem")

    @property
    def key_file(self) -> str:
        return str(self.base_dir / "tls" / "key.pem")

    @property
    def config_file(self) -> str:
        return str(self.base_dir / "dovecot.conf")

    @property
    def log_file(self) -> str:
        return str(self.base_dir / "dovecot.log")

    @property
    def users(self) -> list[str]:
        return list(self._users)

    @property
    def running(self) -> bool:
        return self._running

    def password(self, user: str) -> str:
        return self._users[user.lower()]

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only this instance's certificate."""
        return ssl.create_default_context(cafile=self.ca_file)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the daemon and return once IMAP greets (bounded by start_timeout)."""
        if self._running:
            return
        if self._base is None:
            self._prepare()
        assert self._base is not None
        self._remove_stale_pid_file()
        began = time.monotonic()
        with open(self._base / "dovecot.log", "ab") as log:
            # Dovecot daemonises but keeps the caller's stdio: give it no pipes.
            proc = subprocess.run(
                [self._binary, "-c", self.config_file],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=self._start_timeout,
            )
        if proc.returncode != 0:
            raise DovecotError(
                f"dovecot exited with status {proc.returncode}; log: {self.log_file}\n"
                + self._log_tail()
            )
        self._running = True
        try:
            self._wait_for_greeting(began)
        except BaseException:
            self._kill()
            self._running = False
            raise
        self.last_start_seconds = time.monotonic() - began
        if not self._atexit_registered:
            atexit.register(self.close)
            self._atexit_registered = True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the daemon for real: SIGTERM the master, wait until ports close.

        Takes about 1.1 s (the master lets its log process drain); stragglers are
        SIGKILLed after 3 s. Use ``kill()`` when speed matters more than grace.
        """
        if not self._running:
            return
        self._running = False
        self._kill(timeout)

    def kill(self) -> None:
        """Crash it: SIGKILL the master and its children (no graceful shutdown).

        Much faster than ``stop()`` (which takes about 1.1 s because the master
        lets its log process drain) and closer to a server dying under a client.
        Maildir delivery is crash-safe, so mail survives.
        """
        if not self._running:
            return
        self._running = False
        self._kill(sig=signal.SIGKILL)

    def restart(self, *, hard: bool = False) -> None:
        """Stop (or with ``hard`` kill) and start again: same ports, mail and users."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def close(self) -> None:
        """Kill the daemon and delete the base directory (mail, config, log).

        SIGKILL rather than a graceful stop: everything is deleted next anyway, and
        it saves the 1.1 s a graceful shutdown takes at the end of every run.
        """
        try:
            self.kill()
        finally:
            if self._atexit_registered:
                atexit.unregister(self.close)
                self._atexit_registered = False
            if self._base is not None:
                shutil.rmtree(self._base, ignore_errors=True)
                self._base = None

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ users
    def add_user(self, address: str, password: str = DEFAULT_PASSWORD) -> None:
        """Add (or re-password) a user and return once Dovecot has picked it up.

        Dovecot's auth process re-reads the passwd-file when its mtime or size has
        changed, but it looks at the file at most once per wall-clock second. So for
        a new user we poll a userdb lookup until it answers (bounded, normally under
        a second); for a changed password, which no lookup shows without a failed
        login (2 s penalty), we wait for the next second boundary, after which the
        first lookup is guaranteed to re-read the file.
        """
        self._check_user(address, password)
        key = address.lower()
        existed = key in self._users
        if existed and self._users[key] == password:
            return
        self._users[key] = password
        if self._base is None:
            return
        self._write_passwd()
        if not self._running:
            return
        written = time.time()
        if existed:
            time.sleep(max(0.0, math.floor(written) + 1.02 - time.time()))
            return
        deadline = time.monotonic() + 5.0
        while self.doveadm("user", key, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise DovecotError(
                    f"Dovecot did not pick up new user {address}; log: {self.log_file}"
                )
            time.sleep(0.05)

    # ------------------------------------------------------------------ mail access
    def imap_client(
        self, user: str, *, password: str | None = None, timeout: float = 10.0
    ) -> IMAPClient:
        """A logged-in client on the plaintext IMAP port; the caller logs out.

        Use it as a context manager (``with dovecot.imap_client(u) as c:``) so the
        socket is closed even when the test fails.
        """
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=timeout)
        try:
            client.login(user, password if password is not None else self.password(user))
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def imaps_client(
        self, user: str, *, password: str | None = None, timeout: float = 10.0
    ) -> IMAPClient:
        """A logged-in client on the IMAPS port, verifying the test certificate."""
        client = IMAPClient(
            self.host,
            port=self.imaps_port,
            ssl=True,
            ssl_context=self.ssl_context(),
            timeout=timeout,
        )
        try:
            client.login(user, password if password is not None else self.password(user))
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str | bytes] = (),
    ) -> None:
        """Put a raw RFC 5322 message into ``user``'s ``folder`` (test setup)."""
        with self.imap_client(user) as client:
            client.append(folder, raw, flags=tuple(flags))

    def count(self, user: str, folder: str = "INBOX") -> int:
        """Number of messages in ``folder`` (STATUS MESSAGES, does not select it)."""
        with self.imap_client(user) as client:
            status = client.folder_status(folder, [b"MESSAGES"])
        return int(status[b"MESSAGES"])

    def fetch_all(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Raw bytes of every message in ``folder``, in UID order, without setting \\Seen."""
        with self.imap_client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            data = client.fetch(uids, [b"BODY.PEEK[]"])
        return [data[uid][b"BODY[]"] for uid in sorted(data)]

    def folders(self, user: str) -> list[str]:
        """Names of ``user``'s folders."""
        with self.imap_client(user) as client:
            return [name for _flags, _delim, name in client.list_folders()]

    def purge(self, user: str) -> None:
        """Expunge every message in every folder of ``user`` (test isolation)."""
        self.doveadm("expunge", "-u", user, "mailbox", "*", "all")

    def purge_all(self) -> None:
        """``purge`` for every user, in one doveadm run (about 30 ms for all of them)."""
        self.doveadm("expunge", "-A", "mailbox", "*", "all")

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``doveadm`` against this instance (mail commands act as the mail user)."""
        proc = subprocess.run(
            ["doveadm", "-c", self.config_file, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if check and proc.returncode != 0:
            raise DovecotError(
                f"doveadm {' '.join(args)} failed ({proc.returncode}): "
                f"{proc.stdout.strip()} {proc.stderr.strip()}; log: {self.log_file}"
            )
        return proc

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _check_user(address: str, password: str) -> None:
        for value in (address, password):
            if any(ch in value for ch in ":\n\r") or not value:
                raise ValueError(f"not usable in a passwd-file: {value!r}")
        if "@" not in address:
            raise ValueError(f"users are full addresses: {address!r}")

    def _need_ports(self, port: int) -> int:
        if not port:
            raise DovecotError("DovecotServer has not been started")
        return port

    def _prepare(self) -> None:
        """Create base dir, certificate, DH params, passwd-file and config (once)."""
        # Short path (socket paths < 108 bytes); mkdtemp makes 0700, the auth
        # process runs as `dovecot` and needs to traverse to the passwd-file.
        base = Path(tempfile.mkdtemp(prefix="mh-", dir="/tmp"))
        self._base = base
        try:
            base.chmod(0o755)
            for sub in ("tls", "state", "mail"):
                (base / sub).mkdir(mode=0o755)
                (base / sub).chmod(0o755)
            nobody = pwd.getpwnam("nobody")
            # Dovecot refuses to store mail as root: mail belongs to nobody.
            os.chown(base / "mail", nobody.pw_uid, nobody.pw_gid)
            self._make_tls(base / "tls")
            self._imap_port, self._imaps_port, self._lmtp_port = self._pick_ports()
            self._write_passwd()
            (base / "dovecot.conf").write_text(self._config())
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            self._base = None
            raise

    @staticmethod
    def _pick_ports() -> tuple[int, int, int]:
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        imap, imaps, lmtp = sorted(ports)
        return imap, imaps, lmtp

    @staticmethod
    def _make_tls(tls: Path) -> None:
        def run(*args: str) -> None:
            proc = subprocess.run(
                ["openssl", *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
                timeout=30,
            )
            if proc.returncode != 0:
                raise DovecotError(
                    f"openssl {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace')}"
                )

        run(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "7", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem"),
        )  # fmt: skip
        # `openssl dhparam` takes ages; the RFC 7919 group is instant.
        run(
            "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048",
            "-out", str(tls / "dh.pem"),
        )  # fmt: skip
        (tls / "key.pem").chmod(0o600)
        (tls / "cert.pem").chmod(0o644)

    def _write_passwd(self) -> None:
        """Rewrite the passwd-file atomically, with a strictly increasing mtime.

        Dovecot compares whole-second mtime and size: two rewrites in one second
        with the same size would otherwise look unchanged.
        """
        assert self._base is not None
        nobody = pwd.getpwnam("nobody")
        lines = [
            f"{user}:{{PLAIN}}{password}:{nobody.pw_uid}:{nobody.pw_gid}::"
            f"{self._base / 'mail' / user}::\n"
            for user, password in sorted(self._users.items())
        ]
        path = self._base / "users"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.chmod(0o644)
        self._passwd_mtime = max(int(time.time()), self._passwd_mtime + 1)
        os.utime(tmp, (self._passwd_mtime, self._passwd_mtime))
        os.replace(tmp, path)

    def _config(self) -> str:
        assert self._base is not None
        base = self._base
        folders = "\n".join(
            f"  mailbox {name} {{\n    auto = subscribe\n  }}" for name in DEFAULT_FOLDERS
        )
        return f"""\
# Self-contained test instance written by tests/support/dovecot.py.
# Deliberately does not include /etc/dovecot.
instance_name = {base.name}
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1

ssl = yes
ssl_cert = <{base}/tls/cert.pem
ssl_key = <{base}/tls/key.pem
ssl_dh = <{base}/tls/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes

# Running as root: mail is stored as nobody.
first_valid_uid = 1
mail_location = maildir:~/Maildir
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no
mail_max_userip_connections = 200

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {base}/users
}}
# passwd-file (not static) so LMTP rejects unknown recipients.
userdb {{
  driver = passwd-file
  args = username_format=%Lu {base}/users
}}

namespace inbox {{
  inbox = yes
  separator = /
{folders}
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self._imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self._imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self._lmtp_port}
  }}
}}
{self._extra_config}
"""

    def _master_pid(self) -> int | None:
        try:
            return int((self.base_dir / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _remove_stale_pid_file(self) -> None:
        """Drop master.pid left by a killed master.

        Dovecot refuses to start while kill(pid, 0) succeeds for the pid in it, and
        that is still true for a zombie: a SIGKILLed master lingers as one until
        init reaps it.
        """
        pid = self._master_pid()
        if pid is not None and not _pid_alive(pid):
            (self.base_dir / "run" / "master.pid").unlink(missing_ok=True)

    def _ports(self) -> tuple[int, int, int]:
        return self._imap_port, self._imaps_port, self._lmtp_port

    def _wait_for_greeting(self, began: float) -> None:
        """Poll until IMAP greets and LMTP says 220 (bounded by start_timeout)."""
        deadline = began + self._start_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                _read_greeting(self.host, self._imap_port, b"* OK", deadline)
                # A complete LHLO-less session (220 ... QUIT ... 221): an LMTP
                # connection left half-handled makes a later shutdown take 6 s.
                _read_greeting(self.host, self._lmtp_port, b"220", deadline, quit_=True)
                return
            except OSError as exc:
                last_error = exc
            pid = self._master_pid()
            if pid is not None and not _pid_alive(pid):
                break
            time.sleep(0.02)
        raise DovecotError(
            f"Dovecot did not answer on IMAP {self.host}:{self._imap_port} within "
            f"{self._start_timeout:.0f}s ({last_error}); log: {self.log_file}\n" + self._log_tail()
        )

    def _kill(
        self,
        timeout: float = 10.0,
        sig: signal.Signals = signal.SIGTERM,
        grace: float = 3.0,
    ) -> None:
        """Signal the master and wait until it and its listening ports are gone.

        A graceful stop takes about 1.1 s (the master lets its log process drain).
        A child stuck mid-connection (seen with an LMTP connection that arrived just
        before SIGTERM) makes the master wait 6 s for it; after ``grace`` seconds we
        SIGKILL the master and whatever children it has left. Ports are checked only
        after the master is gone: connecting to a dying master makes it fork yet
        another login process to wait for.
        """
        pid = self._master_pid()
        if pid is None or not _pid_alive(pid):
            self._wait_ports_closed(time.monotonic() + timeout)
            return
        if sig == signal.SIGKILL:
            self._kill_tree(pid)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        start = time.monotonic()
        deadline = start + timeout
        escalated = sig == signal.SIGKILL
        while _pid_alive(pid):
            now = time.monotonic()
            if not escalated and now - start > grace:
                self._kill_tree(pid)
                escalated = True
            if now > deadline:
                raise DovecotError(
                    f"Dovecot (master pid {pid}) did not stop within {timeout:.0f}s; "
                    f"log: {self.log_file}"
                )
            time.sleep(0.02)
        self._wait_ports_closed(deadline)

    @staticmethod
    def _kill_tree(pid: int) -> None:
        children = _children(pid)  # before the master dies and they are reparented
        for target in [pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)

    def _wait_ports_closed(self, deadline: float) -> None:
        while any(port_open(self.host, p) for p in self._ports() if p):
            if time.monotonic() > deadline:
                raise DovecotError(
                    f"Dovecot ports {self._ports()} still open; log: {self.log_file}"
                )
            time.sleep(0.02)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self.log_file).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
