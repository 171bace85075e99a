"""Settings: parsed once at start into a frozen, typed object that fails fast.

The file is TOML (``config/hub.example.toml`` documents every key). Secrets may come
from the environment instead of the file (``MARRAC_HUB_IMAP_PASSWORD``,
``MARRAC_HUB_SMTP_PASSWORD``, ``MARRAC_HUB_REPLIES_PASSWORD``, ``MARRAC_HUB_DATABASE_URL``)
so that the file itself can be kept in configuration management without them.
Relative paths are resolved against the directory of the config file, so the hub behaves
the same whichever directory it is started from.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hub.domain.policy import DEFAULT_POLICY, Policy, PolicyError

SECURITY_MODES = ("tls", "starttls", "plain")
# The repository (or installed package) root: default request templates live under it.
_REPO = Path(__file__).resolve().parents[1]


class ConfigError(Exception):
    """The settings are missing, malformed or contradict each other."""


@dataclass(frozen=True)
class HubSettings:
    data_dir: Path
    public_url: str = "http://127.0.0.1:8080"
    timezone: str = "Europe/London"
    # Prefix of case references: MR-2026-000123.
    reference_prefix: str = "MR"
    # Deadlines, warnings and chasing (config/policy.example.toml); None: the defaults.
    policy_file: Path | None = None

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str


@dataclass(frozen=True)
class IntakeSettings:
    # "imap" for a real mailbox; "maildir" for the embedded demo mailbox.
    source: str = "imap"
    maildir: Path | None = None
    imap_host: str = "127.0.0.1"
    imap_port: int = 993
    imap_security: str = "tls"
    ca_file: Path | None = None
    username: str = "marrac-referrals@hub.test"
    password: str = field(default="", repr=False)
    mailbox: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    allowed_senders: tuple[str, ...] = ("lancashire.police.uk",)
    trusted_authserv_id: str = ""
    # How many messages one fetch takes: bigger batches mean fewer IMAP round trips.
    batch_size: int = 100
    # Polling interval when the server has no IDLE, and the IDLE re-issue interval.
    poll_seconds: float = 30.0
    idle: bool = True
    reconnect_max_seconds: float = 60.0
    # Messages above this size are stored and triaged, never parsed as a form.
    max_message_bytes: int = 40 * 1024 * 1024


@dataclass(frozen=True)
class SmtpSettings:
    # "smtp" for a real server; "maildir" writes mail to files (the demo, no server).
    transport: str = "smtp"
    maildir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 587
    security: str = "starttls"
    ca_file: Path | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    from_address: str = "marrac-hub@hub.test"
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class OutboxSettings:
    # A claimed row is someone else's for this long; after it, a crashed sender's row
    # is taken over (the stable Message-ID makes the rare resend recognisable).
    lease_seconds: float = 120.0
    # Temporary failures (4xx, timeouts) retry with backoff until this many hours pass.
    give_up_hours: float = 48.0
    backoff_first_seconds: float = 30.0
    backoff_max_seconds: float = 1800.0
    poll_seconds: float = 2.0


@dataclass(frozen=True)
class RepliesSettings:
    """The mailbox agencies' email replies land in (plus-addressed per request)."""

    address: str = "replies@hub.test"
    username: str = "replies@hub.test"
    password: str = field(default="", repr=False)
    mailbox: str = "INBOX"

    @property
    def enabled(self) -> bool:
        return bool(self.password)


@dataclass(frozen=True)
class RequestSettings:
    """Information requests to agencies and their secure links."""

    agencies_file: Path | None = None
    templates_dir: Path | None = None
    link_days: int = 14
    code_minutes: int = 10
    code_tries: int = 5
    max_codes_per_link: int = 10
    max_upload_bytes: int = 10 * 1024 * 1024
    upload_types: tuple[str, ...] = (
        "application/pdf",
        "text/plain",
        "image/png",
        "image/jpeg",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )


@dataclass(frozen=True)
class SchedulerSettings:
    """Short periodic jobs; the durable truth (what is due) stays in the database."""

    sweep_seconds: float = 60.0
    # The daily digest to co-ordinators, in the hub's time zone.
    digest_time: str = "08:00"


@dataclass(frozen=True)
class AlertSettings:
    team_leaders: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class Settings:
    """Every setting the hub runs on. Build with :func:`load` or :func:`for_tests`."""

    hub: HubSettings
    database: DatabaseSettings
    intake: IntakeSettings
    smtp: SmtpSettings
    outbox: OutboxSettings
    alerts: AlertSettings
    web: WebSettings
    replies: RepliesSettings = field(default_factory=RepliesSettings)
    requests: RequestSettings = field(default_factory=RequestSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    source_path: Path | None = None


def _section(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return dict(value)


def _take(section: dict[str, Any], name: str, key: str, kind: type, default: Any) -> Any:
    if key not in section:
        return default
    value = section.pop(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"[{name}] {key} must be a list of strings")
        return tuple(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"[{name}] {key} must be a {kind.__name__}")
    return value


def _path(base: Path, value: str | None) -> Path | None:
    if value is None or value == "":
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _check_unknown(name: str, section: dict[str, Any]) -> None:
    if section:
        raise ConfigError(f"[{name}] has unknown key(s): {', '.join(sorted(section))}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse(raw: Mapping[str, Any], base: Path, env: Mapping[str, str]) -> Settings:
    """Turn a TOML document into :class:`Settings`, or raise :class:`ConfigError`."""
    known = {
        "hub",
        "database",
        "intake",
        "replies",
        "smtp",
        "outbox",
        "alerts",
        "web",
        "agencies",
        "requests",
        "scheduler",
    }
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")

    s = _section(raw, "hub")
    data_dir = _path(base, _take(s, "hub", "data_dir", str, "./var"))
    assert data_dir is not None
    hub = HubSettings(
        data_dir=data_dir,
        public_url=_take(s, "hub", "public_url", str, "http://127.0.0.1:8080"),
        timezone=_take(s, "hub", "timezone", str, "Europe/London"),
        reference_prefix=_take(s, "hub", "reference_prefix", str, "MR"),
        policy_file=_path(base, _take(s, "hub", "policy_file", str, None)),
    )
    _check_unknown("hub", s)

    s = _section(raw, "database")
    default_db = f"sqlite+aiosqlite:///{data_dir / 'hub.db'}"
    url = env.get("MARRAC_HUB_DATABASE_URL") or _take(s, "database", "url", str, default_db)
    s.pop("url", None)
    if url.startswith("sqlite") and ":///" in url:
        # Three slashes and a relative path: relative to this settings file.
        path = url.split(":///", 1)[1]
        if path and not path.startswith("/") and path != ":memory:":
            url = f"sqlite+aiosqlite:///{(base / path).resolve()}"
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise ConfigError("[database] url must be sqlite+aiosqlite:// or postgresql+asyncpg://")
    database = DatabaseSettings(url=url)
    _check_unknown("database", s)

    s = _section(raw, "intake")
    intake = IntakeSettings(
        source=_take(s, "intake", "source", str, "imap"),
        maildir=_path(base, _take(s, "intake", "maildir", str, None)),
        imap_host=_take(s, "intake", "imap_host", str, "127.0.0.1"),
        imap_port=_take(s, "intake", "imap_port", int, 993),
        imap_security=_take(s, "intake", "imap_security", str, "tls"),
        ca_file=_path(base, _take(s, "intake", "ca_file", str, None)),
        username=_take(s, "intake", "username", str, "marrac-referrals@hub.test"),
        password=env.get("MARRAC_HUB_IMAP_PASSWORD") or _take(s, "intake", "password", str, ""),
        mailbox=_take(s, "intake", "mailbox", str, "INBOX"),
        processed_folder=_take(s, "intake", "processed_folder", str, "Processed"),
        quarantine_folder=_take(s, "intake", "quarantine_folder", str, "Quarantine"),
        allowed_senders=tuple(
            a.strip().lower()
            for a in _take(s, "intake", "allowed_senders", tuple, ("lancashire.police.uk",))
        ),
        trusted_authserv_id=_take(s, "intake", "trusted_authserv_id", str, ""),
        batch_size=_take(s, "intake", "batch_size", int, 100),
        poll_seconds=_take(s, "intake", "poll_seconds", float, 30.0),
        idle=_take(s, "intake", "idle", bool, True),
        reconnect_max_seconds=_take(s, "intake", "reconnect_max_seconds", float, 60.0),
        max_message_bytes=_take(s, "intake", "max_message_bytes", int, 40 * 1024 * 1024),
    )
    s.pop("password", None)
    _check_unknown("intake", s)
    if intake.source not in ("imap", "maildir"):
        raise ConfigError('[intake] source must be "imap" or "maildir"')
    if intake.source == "maildir" and intake.maildir is None:
        raise ConfigError("[intake] source = maildir needs [intake] maildir = PATH")
    if intake.source == "imap":
        _check_security("intake", intake.imap_security, intake.imap_host)
        if not intake.password:
            raise ConfigError("[intake] password is empty: set it or MARRAC_HUB_IMAP_PASSWORD")
    if not 1 <= intake.batch_size <= 1000:
        raise ConfigError("[intake] batch_size must be between 1 and 1000")

    s = _section(raw, "replies")
    replies = RepliesSettings(
        address=_take(s, "replies", "address", str, "replies@hub.test"),
        username=_take(s, "replies", "username", str, "replies@hub.test"),
        password=env.get("MARRAC_HUB_REPLIES_PASSWORD") or _take(s, "replies", "password", str, ""),
        mailbox=_take(s, "replies", "mailbox", str, "INBOX"),
    )
    s.pop("password", None)
    _check_unknown("replies", s)
    if "@" not in replies.address or "+" in replies.address:
        raise ConfigError("[replies] address must be a plain address (the hub adds +tags)")

    s = _section(raw, "agencies")
    agencies_file = _path(base, _take(s, "agencies", "file", str, "./config/agencies.toml"))
    _check_unknown("agencies", s)
    s = _section(raw, "requests")
    requests = RequestSettings(
        agencies_file=agencies_file,
        templates_dir=_path(
            base,
            _take(s, "requests", "templates_dir", str, str(_REPO / "config/request-templates")),
        ),
        link_days=_take(s, "requests", "link_days", int, 14),
        code_minutes=_take(s, "requests", "code_minutes", int, 10),
        code_tries=_take(s, "requests", "code_tries", int, 5),
        max_codes_per_link=_take(s, "requests", "max_codes_per_link", int, 10),
        max_upload_bytes=_take(s, "requests", "max_upload_bytes", int, 10 * 1024 * 1024),
        upload_types=_take(s, "requests", "upload_types", tuple, RequestSettings.upload_types),
    )
    _check_unknown("requests", s)

    s = _section(raw, "smtp")
    smtp = SmtpSettings(
        transport=_take(s, "smtp", "transport", str, "smtp"),
        maildir=_path(base, _take(s, "smtp", "maildir", str, None)),
        host=_take(s, "smtp", "host", str, "127.0.0.1"),
        port=_take(s, "smtp", "port", int, 587),
        security=_take(s, "smtp", "security", str, "starttls"),
        ca_file=_path(base, _take(s, "smtp", "ca_file", str, None)),
        username=_take(s, "smtp", "username", str, ""),
        password=env.get("MARRAC_HUB_SMTP_PASSWORD") or _take(s, "smtp", "password", str, ""),
        from_address=_take(s, "smtp", "from_address", str, "marrac-hub@hub.test"),
        timeout_seconds=_take(s, "smtp", "timeout_seconds", float, 30.0),
    )
    s.pop("password", None)
    _check_unknown("smtp", s)
    if smtp.transport not in ("smtp", "maildir"):
        raise ConfigError('[smtp] transport must be "smtp" or "maildir"')
    if smtp.transport == "maildir" and smtp.maildir is None:
        raise ConfigError("[smtp] transport = maildir needs [smtp] maildir = PATH")
    if smtp.transport == "smtp":
        _check_security("smtp", smtp.security, smtp.host)

    s = _section(raw, "outbox")
    outbox = OutboxSettings(
        lease_seconds=_take(s, "outbox", "lease_seconds", float, 120.0),
        give_up_hours=_take(s, "outbox", "give_up_hours", float, 48.0),
        backoff_first_seconds=_take(s, "outbox", "backoff_first_seconds", float, 30.0),
        backoff_max_seconds=_take(s, "outbox", "backoff_max_seconds", float, 1800.0),
        poll_seconds=_take(s, "outbox", "poll_seconds", float, 2.0),
    )
    _check_unknown("outbox", s)

    s = _section(raw, "alerts")
    alerts = AlertSettings(team_leaders=_take(s, "alerts", "team_leaders", tuple, ()))
    _check_unknown("alerts", s)
    if not alerts.team_leaders:
        raise ConfigError("[alerts] team_leaders is empty: nobody would hear of new cases")

    s = _section(raw, "web")
    web = WebSettings(
        host=_take(s, "web", "host", str, "127.0.0.1"), port=_take(s, "web", "port", int, 8080)
    )
    _check_unknown("web", s)

    s = _section(raw, "scheduler")
    scheduler = SchedulerSettings(
        sweep_seconds=_take(s, "scheduler", "sweep_seconds", float, 60.0),
        digest_time=_take(s, "scheduler", "digest_time", str, "08:00"),
    )
    _check_unknown("scheduler", s)
    hh, _, mm = scheduler.digest_time.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ConfigError('[scheduler] digest_time must be "HH:MM"')
    settings = Settings(
        hub, database, intake, smtp, outbox, alerts, web, replies, requests, scheduler
    )
    load_policy(settings)  # validated at start: a bad policy file stops the hub here
    return settings


def load_policy(settings: Settings) -> Policy:
    """The deadline policy from ``[hub] policy_file``, or the built-in defaults."""
    path = settings.hub.policy_file
    if path is None:
        return DEFAULT_POLICY
    try:
        return Policy.from_dict(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(f"[hub] policy_file: cannot read {path}: {exc}") from None
    except (tomllib.TOMLDecodeError, PolicyError) as exc:
        raise ConfigError(f"[hub] policy_file {path}: {exc}") from None


def _check_security(name: str, mode: str, host: str) -> None:
    if mode not in SECURITY_MODES:
        raise ConfigError(f"[{name}] security must be one of {', '.join(SECURITY_MODES)}")
    if mode == "plain" and not _is_loopback(host):
        # Plaintext credentials and referrals must never cross a network.
        raise ConfigError(f"[{name}] plain (unencrypted) is allowed only to a loopback host")


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """``$MARRAC_HUB_CONFIG``, else ``./hub.toml``."""
    env = os.environ if env is None else env
    return Path(env.get("MARRAC_HUB_CONFIG") or "hub.toml")


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings file; raise :class:`ConfigError` with the reason."""
    env = os.environ if env is None else env
    path = path or default_path(env)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no settings file at {path} (see config/hub.example.toml)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    settings = parse(raw, path.resolve().parent, env)
    return replace(settings, source_path=path.resolve())


def for_tests(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests: embedded defaults under ``data_dir``, sections overridable.

    ``overrides`` maps a section name to a dict of its keys, e.g.
    ``for_tests(tmp, intake={"imap_port": 1143, "imap_security": "plain"})``.
    """
    raw: dict[str, Any] = {
        "hub": {"data_dir": str(data_dir)},
        "intake": {"source": "maildir", "maildir": str(data_dir / "inbox")},
        "smtp": {"transport": "maildir", "maildir": str(data_dir / "sent")},
        "alerts": {"team_leaders": ["team-leader.south@hub.test"]},
    }
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return parse(raw, data_dir, {})
