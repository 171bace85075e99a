"""django-helpdesk as the intake benchmark's peer: a throwaway Django project in one file.

Not part of the hub and never run by the test suite: it runs inside a separate virtual
environment that holds django-helpdesk, outside the project's dependencies and locks:

    python3 -m venv /tmp/helpdesk-venv
    /tmp/helpdesk-venv/bin/pip install "django-helpdesk==2.6.1"   # brings Django 5.2

``tests/bench/bench_intake_vs_helpdesk.py`` drives it with that interpreter:

    /tmp/helpdesk-venv/bin/python tests/bench/helpdesk_peer.py --dir DIR setup \\
        --imap-port 143 --user helpdesk@hub.test --password PW --smtp-port 25
    /tmp/helpdesk-venv/bin/python tests/bench/helpdesk_peer.py --dir DIR get_email
    /tmp/helpdesk-venv/bin/python tests/bench/helpdesk_peer.py --dir DIR count

``setup`` migrates a SQLite database in DIR and creates one Queue reading the IMAP
mailbox (``email_box_type = imap``, no SSL: django-helpdesk then tries STARTTLS, as it
always does); the peer's own settings (its SMTP port for the mail it sends back) are kept
in DIR/peer.json. ``get_email`` is exactly ``manage.py get_email``. ``count`` prints the
number of tickets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(folder: Path) -> None:
    """Django settings for a minimal helpdesk site: SQLite, SMTP to the benchmark's sink."""
    from django.conf import settings

    peer = json.loads((folder / "peer.json").read_text()) if (folder / "peer.json").exists() else {}
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only-not-secret",
        ALLOWED_HOSTS=["localhost"],
        SITE_ID=1,
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "db.sqlite3")}
        },
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.sites",
            "django.contrib.messages",
            "django.contrib.humanize",
            "rest_framework",
            "helpdesk",
        ],
        HELPDESK_TEAMS_MODE_ENABLED=False,
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        MEDIA_ROOT=str(folder / "media"),
        ROOT_URLCONF=__name__,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=int(peer.get("smtp_port", 25)),
        DEFAULT_FROM_EMAIL="helpdesk@hub.test",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        LOGGING_CONFIG=None,
    )
    import django

    django.setup()
    from django.urls import include, path

    # Its mails link to tickets, so helpdesk's URLs must resolve (ROOT_URLCONF is here).
    urlpatterns[:] = [path("helpdesk/", include("helpdesk.urls"))]


urlpatterns: list[object] = []


def setup(folder: Path, args: argparse.Namespace) -> None:
    """Migrate the database and create the one queue reading the benchmark's mailbox."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from helpdesk.models import Queue

    Queue.objects.create(
        title="Referrals",
        slug="referrals",
        email_address="helpdesk@hub.test",
        allow_email_submission=True,
        email_box_type="imap",
        email_box_host="127.0.0.1",
        email_box_port=args.imap_port,
        email_box_ssl=False,
        email_box_user=args.user,
        email_box_pass=args.password,
        email_box_imap_folder="INBOX",
        email_box_interval=0,
        logging_type="none",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    sub.add_parser("get_email")
    sub.add_parser("count")
    args = parser.parse_args()
    folder: Path = args.dir.resolve()
    if args.command == "setup":
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "peer.json").write_text(json.dumps({"smtp_port": args.smtp_port}))
    configure(folder)
    if args.command == "setup":
        setup(folder, args)
    elif args.command == "count":
        from helpdesk.models import Ticket

        print(Ticket.objects.count())
    else:
        from django.core.management import execute_from_command_line

        execute_from_command_line([sys.argv[0], "get_email", "--quiet"])


if __name__ == "__main__":
    main()
