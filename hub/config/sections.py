"""The settings sections: one frozen dataclass per TOML table, each key declared once
(its type, default and limits) with :func:`~hub.config.declarations.setting`.

``config/hub.example.toml`` documents every key for operators; the comments here say
why a limit is where it is. Relative path defaults (``Path("var")``) are resolved
against the settings file's directory when read.
"""

# setting() returns dataclasses.field(...), which ruff cannot see through:
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hub.config import checks
from hub.config.declarations import setting
from hub.resources import request_templates_dir

SECURITY_MODES = ("tls", "starttls", "plain")
# One TCP port; 0 ("any free port") only where the hub listens, never where it connects.
_PORT = 65535
_HOUR = 3600.0
_DAY = 24 * _HOUR
_GIB = 1024 * 1024 * 1024


@dataclass(frozen=True)
class HubSettings:
    """``[hub]``: where the hub keeps its data, its address and its time zone."""

    data_dir: Path = setting(Path("var"))
    # Must be http(s) with a host: agencies' links are built on it.
    public_url: str = setting("http://127.0.0.1:8080", check=checks.web_address)
    timezone: str = setting("Europe/London", check=checks.time_zone)
    # Prefix of case references: MR-2026-000123.
    reference_prefix: str = setting("MR")
    # Deadlines, warnings and chasing (config/policy.example.toml); None: the defaults.
    policy_file: Path | None = setting(None)

    @property
    def key_dir(self) -> Path:
        return self.data_dir / "keys"


@dataclass(frozen=True)
class DatabaseSettings:
    """``[database]``. Empty ``url``: the SQLite file ``hub.db`` in ``[hub] data_dir``."""

    url: str = setting("", env="MARRAC_HUB_DATABASE_URL")


@dataclass(frozen=True)
class IntakeSettings:
    """``[intake]``: the referrals mailbox."""

    # "imap" for a real mailbox; "maildir" for the embedded demo mailbox.
    source: str = setting("imap", choices=("imap", "maildir"))
    maildir: Path | None = setting(None)
    imap_host: str = setting("127.0.0.1")
    imap_port: int = setting(993, minimum=1, maximum=_PORT)
    imap_security: str = setting("tls", choices=SECURITY_MODES)
    ca_file: Path | None = setting(None)
    username: str = setting("marrac-referrals@hub.test")
    password: str = setting("", env="MARRAC_HUB_IMAP_PASSWORD", secret=True)
    mailbox: str = setting("INBOX")
    processed_folder: str = setting("Processed")
    quarantine_folder: str = setting("Quarantine")
    allowed_senders: tuple[str, ...] = setting(("lancashire.police.uk",), convert=checks.lowered)
    # Empty: no server vouches for senders, and check-config and serve refuse to run
    # unless allow_unauthenticated says that is meant (hub.domain.senders.sender_trust).
    trusted_authserv_id: str = setting("")
    allow_unauthenticated: bool = setting(False)
    # How many messages one fetch takes: bigger batches mean fewer IMAP round trips.
    batch_size: int = setting(100, minimum=1, maximum=1000)
    # Polling interval when the server has no IDLE, and the IDLE re-issue interval.
    poll_seconds: float = setting(30.0, minimum=0.1, maximum=_HOUR)
    idle: bool = setting(True)
    reconnect_max_seconds: float = setting(60.0, minimum=0.1, maximum=_HOUR)
    # Messages above this size are stored and triaged, never parsed as a form.
    max_message_bytes: int = setting(40 * 1024 * 1024, minimum=1024, maximum=_GIB)
    # Body text read from one message (all its parts together); the rest is noted.
    max_text_chars: int = setting(1_000_000, minimum=1_000, maximum=100_000_000)
    # Mail is read in worker processes (hub.services.reading_pool), each message within
    # a time and a memory budget; a message over either is kept for triage with why.
    read_workers: int = setting(2, minimum=1, maximum=64)
    read_seconds: float = setting(10.0, minimum=0.1, maximum=_HOUR)
    read_memory_mb: int = setting(1024, minimum=64, maximum=1024 * 1024)
    # Quarantined mail larger than this is kept as its header section and SHA-256 only.
    quarantine_keep_bytes: int = setting(1024 * 1024, minimum=1024, maximum=_GIB)


@dataclass(frozen=True)
class SmtpSettings:
    """``[smtp]``: how mail leaves the hub."""

    # "smtp" for a real server; "maildir" writes mail to files (the demo, no server).
    transport: str = setting("smtp", choices=("smtp", "maildir"))
    maildir: Path | None = setting(None)
    host: str = setting("127.0.0.1")
    port: int = setting(587, minimum=1, maximum=_PORT)
    security: str = setting("starttls", choices=SECURITY_MODES)
    ca_file: Path | None = setting(None)
    username: str = setting("")
    password: str = setting("", env="MARRAC_HUB_SMTP_PASSWORD", secret=True)
    from_address: str = setting("marrac-hub@hub.test")
    timeout_seconds: float = setting(30.0, minimum=1.0, maximum=600.0)


@dataclass(frozen=True)
class OutboxSettings:
    """``[outbox]``: delivery, retries and giving up (STYLE.md habit 5)."""

    # A claimed row is someone else's for this long; after it, a crashed sender's row
    # is taken over (the stable Message-ID makes the rare resend recognisable).
    lease_seconds: float = setting(120.0, minimum=1.0, maximum=_DAY)
    # Temporary failures (4xx, timeouts) retry with backoff until this many hours pass
    # (RFC 5321 section 4.5.4.1 suggests giving up after 4-5 days; a month is the cap).
    give_up_hours: float = setting(48.0, minimum=1.0, maximum=30 * 24.0)
    backoff_first_seconds: float = setting(30.0, minimum=0.1, maximum=_HOUR)
    backoff_max_seconds: float = setting(1800.0, minimum=0.1, maximum=_DAY)
    poll_seconds: float = setting(2.0, minimum=0.1, maximum=_HOUR)
    # A 5xx at connect or login refuses the hub, not a message: delivery pauses this long.
    pause_seconds: float = setting(600.0, minimum=1.0, maximum=_DAY)


@dataclass(frozen=True)
class RepliesSettings:
    """``[replies]``: the mailbox agencies' email replies land in (plus-addressed per
    request)."""

    address: str = setting("replies@hub.test", check=checks.plain_address)
    username: str = setting("replies@hub.test")
    password: str = setting("", env="MARRAC_HUB_REPLIES_PASSWORD", secret=True)
    mailbox: str = setting("INBOX")

    @property
    def enabled(self) -> bool:
        return bool(self.password)


@dataclass(frozen=True)
class AgenciesSettings:
    """``[agencies]``: the agency directory file (kept as ``RequestSettings.agencies_file``).
    Like every relative path it is resolved against the settings file's folder, so the
    default is the file beside it (``config/agencies.toml`` for ``config/hub.toml``),
    not ``config/config/agencies.toml``."""

    file: Path | None = setting(Path("agencies.toml"))


@dataclass(frozen=True)
class RequestSettings:
    """``[requests]``: information requests to agencies and their secure links."""

    # From [agencies] file, not a key of [requests].
    agencies_file: Path | None = None
    # The templates that ship inside the package unless the operator keeps their own.
    templates_dir: Path | None = setting(request_templates_dir())
    link_days: int = setting(14, minimum=1, maximum=366)
    code_minutes: int = setting(10, minimum=1, maximum=24 * 60)
    # Few tries keep a guessed six-digit code out of reach (a link locks after them).
    code_tries: int = setting(5, minimum=1, maximum=100)
    max_codes_per_link: int = setting(10, minimum=1, maximum=1000)
    max_upload_bytes: int = setting(10 * 1024 * 1024, minimum=1024, maximum=_GIB)
    upload_types: tuple[str, ...] = setting(
        (
            "application/pdf",
            "text/plain",
            "image/png",
            "image/jpeg",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        )
    )


@dataclass(frozen=True)
class SchedulerSettings:
    """``[scheduler]``: short periodic jobs; the durable truth (what is due) stays in the
    database."""

    sweep_seconds: float = setting(60.0, minimum=1.0, maximum=_DAY)
    # The daily digest to co-ordinators, in the hub's time zone.
    digest_time: str = setting("08:00", check=checks.clock_time)


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]``: who hears of new cases, quarantined mail and failures."""

    team_leaders: tuple[str, ...] = setting((), check=checks.someone)


@dataclass(frozen=True)
class WebSettings:
    """``[web]``: where the web server listens, and how much one client may ask of it."""

    host: str = setting("127.0.0.1")
    # 0: any free port (tests run several hubs on one machine).
    port: int = setting(8080, minimum=0, maximum=_PORT)
    # Requests a minute (0: no limit) per client address and per link token, counted in
    # each process's memory (hub.web.ratelimit). A person needs a dozen to answer; a
    # guesser is held to these. The page benchmarks turn them off.
    rate_limit_per_client: int = setting(120, minimum=0, maximum=1_000_000)
    rate_limit_per_link: int = setting(60, minimum=0, maximum=1_000_000)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client;
    # empty: the peer is the client. Behind the documented nginx: the loopback.
    trusted_proxies: tuple[str, ...] = setting((), check=checks.networks)
    # A connection that has not sent a whole request head in this time (idle between
    # requests, or trickling its headers: "slowloris") is closed; and a body that has
    # not arrived in body_timeout_seconds gets a 408. Each open connection holds a file
    # descriptor, so a handful of slow clients must not hold them for ever.
    idle_timeout_seconds: float = setting(15.0, minimum=0.1, maximum=_HOUR)
    body_timeout_seconds: float = setting(60.0, minimum=0.1, maximum=_HOUR)


@dataclass(frozen=True)
class Settings:
    """Every setting the hub runs on. Build with :func:`hub.config.load` or
    :func:`hub.config.for_tests`."""

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


#: Every table a settings file may hold, and the dataclass it is read into.
SECTIONS: dict[str, type] = {
    "hub": HubSettings,
    "database": DatabaseSettings,
    "intake": IntakeSettings,
    "replies": RepliesSettings,
    "smtp": SmtpSettings,
    "outbox": OutboxSettings,
    "alerts": AlertSettings,
    "web": WebSettings,
    "agencies": AgenciesSettings,
    "requests": RequestSettings,
    "scheduler": SchedulerSettings,
}
