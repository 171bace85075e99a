"""Self-checks for the real-service test infrastructure in tests/support.

If one of these fails, every integration test built on the same fixtures is
suspect: fix the infrastructure first.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage

import aiosmtplib
import asyncpg
import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.fault_proxy import FaultProxy
from tests.support.hub import REFERRALS
from tests.support.mail_stack import MailStack
from tests.support.postgres import create_database, database_name, drop_database
from tests.support.smtp_server import SmtpServer

REPLIES = "replies@hub.test"


def _message(to: str, subject: str, body: str = "Hello from the self-check.\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "hub@hub.test"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def _subjects(raws: list[bytes]) -> list[str]:
    return [str(message_from_bytes(raw, policy=policy.default)["Subject"]) for raw in raws]


async def test_smtp_mail_is_readable_over_imap(mail_stack: MailStack) -> None:
    await aiosmtplib.send(
        _message(REFERRALS, "Referral 1 (é)"),
        hostname=mail_stack.host,
        port=mail_stack.smtp_port,
        start_tls=False,
    )
    # Plus-addressing lands in the base mailbox; outside domains are only recorded.
    await aiosmtplib.send(
        _message("replies+case-42@hub.test", "Reply"),
        recipients=["replies+case-42@hub.test", "someone@example.org"],
        hostname=mail_stack.host,
        port=mail_stack.smtp_port,
        start_tls=False,
    )

    records = mail_stack.smtp.wait_for(2, timeout=5)
    assert records[0].rcpt_tos == (REFERRALS,)
    assert records[1].rcpt_tos == ("replies+case-42@hub.test", "someone@example.org")
    assert [m["Subject"] for m in mail_stack.smtp.messages(to="someone@example.org")] == ["Reply"]

    raws = mail_stack.dovecot.fetch_all(REFERRALS, "INBOX")
    assert _subjects(raws) == ["Referral 1 (é)"]
    assert b"Hello from the self-check." in raws[0]
    assert _subjects(mail_stack.dovecot.fetch_all(REPLIES, "INBOX")) == ["Reply"]
    # Folders the hub expects exist from the first login.
    assert {"INBOX", "Processed", "Quarantine"} <= set(mail_stack.dovecot.folders(REFERRALS))


def test_bare_lf_bytes_from_smtplib_arrive_with_crlf(mail_stack: MailStack) -> None:
    # An .eml read from disk has LF endings, and smtplib sends bytes unconverted.
    raw = b"Subject: bare LF\nFrom: a@example.org\n\n" + b"y" * 1500 + b"\n.dot line\nend\n"
    with smtplib.SMTP(mail_stack.host, mail_stack.smtp_port, timeout=10) as client:
        client.sendmail("relay@example.org", [REFERRALS], raw)
    [stored] = mail_stack.dovecot.fetch_all(REFERRALS)
    assert stored.endswith(b"\r\n\r\n" + b"y" * 1500 + b"\r\n.dot line\r\nend\r\n")
    assert mail_stack.smtp.received[0].raw == raw.replace(b"\n", b"\r\n")


def test_imaps_verifies_against_ca_file(mail_stack: MailStack) -> None:
    context = ssl.create_default_context(cafile=mail_stack.ca_file)
    with IMAPClient(
        mail_stack.host, port=mail_stack.imaps_port, ssl=True, ssl_context=context, timeout=5
    ) as client:
        client.login(REFERRALS, "test-pass")
        assert client.has_capability("IDLE")
        assert client.has_capability("MOVE")
        assert client.has_capability("UIDPLUS")

    # Without our CA the self-signed certificate must be refused.
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            mail_stack.host,
            port=mail_stack.imaps_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )


async def test_starttls_server_verifies_against_ca_file(mail_stack: MailStack) -> None:
    await aiosmtplib.send(
        _message(REFERRALS, "Over STARTTLS"),
        hostname=mail_stack.host,
        port=mail_stack.smtp_tls.port,
        start_tls=True,
        tls_context=ssl.create_default_context(cafile=mail_stack.ca_file),
    )
    assert _subjects(mail_stack.dovecot.fetch_all(REFERRALS)) == ["Over STARTTLS"]


async def test_unknown_hub_user_gets_550(mail_stack: MailStack) -> None:
    async with aiosmtplib.SMTP(
        hostname=mail_stack.host, port=mail_stack.smtp_port, start_tls=False
    ) as client:
        await client.mail("hub@hub.test")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await client.rcpt("nobody-here@hub.test")
        assert refused.value.code == 550
        # Other domains are accepted (the server plays the outside world too).
        response = await client.rcpt("case-worker@example.org")
        assert response.code == 250


async def test_fail_next_and_reject_next(mail_stack: MailStack) -> None:
    smtp = mail_stack.smtp
    smtp.fail_next(1)
    smtp.reject_next(1)
    send = {"hostname": mail_stack.host, "port": mail_stack.smtp_port, "start_tls": False}

    with pytest.raises(aiosmtplib.SMTPDataError) as temporary:
        await aiosmtplib.send(_message(REFERRALS, "try 1"), **send)
    assert temporary.value.code == 451
    with pytest.raises(aiosmtplib.SMTPDataError) as permanent:
        await aiosmtplib.send(_message(REFERRALS, "try 2"), **send)
    assert permanent.value.code == 550
    await aiosmtplib.send(_message(REFERRALS, "try 3"), **send)

    assert [r.message["Subject"] for r in smtp.received] == ["try 3"]
    assert _subjects(mail_stack.dovecot.fetch_all(REFERRALS)) == ["try 3"]


def test_smtp_server_restarts_on_same_port(mail_stack: MailStack) -> None:
    server = SmtpServer(lmtp_port=mail_stack.dovecot.lmtp_port)
    server.start()
    port = server.port
    try:
        # Stopping with a client still connected closes it cleanly (no
        # ResourceWarning, no pending task) and the client sees EOF.
        with socket.create_connection((mail_stack.host, port), timeout=5) as client:
            assert client.recv(512).startswith(b"220 ")
            server.stop()
            assert client.recv(512) == b""
        server.start()
        assert server.port == port
        with smtplib.SMTP(mail_stack.host, port, timeout=5) as again:
            assert again.noop()[0] == 250
    finally:
        server.stop()


def test_dovecot_restart_keeps_mail_and_ports(mail_stack: MailStack) -> None:
    dovecot = mail_stack.dovecot
    ports = (dovecot.imap_port, dovecot.imaps_port, dovecot.lmtp_port)
    dovecot.append(REFERRALS, b"Subject: survives\r\n\r\nbody\r\n")

    dovecot.restart()
    assert (dovecot.imap_port, dovecot.imaps_port, dovecot.lmtp_port) == ports
    assert dovecot.count(REFERRALS) == 1

    dovecot.restart(hard=True)  # SIGKILL, as in a crash
    assert _subjects(dovecot.fetch_all(REFERRALS)) == ["survives"]


def test_fault_proxy_cut_breaks_imap_and_new_connection_works(mail_stack: MailStack) -> None:
    dovecot = mail_stack.dovecot
    with FaultProxy(dovecot.host, dovecot.imap_port) as proxy:
        client = IMAPClient(dovecot.host, port=proxy.port, ssl=False, timeout=5)
        try:
            client.login(REFERRALS, "test-pass")
            client.noop()
            proxy.cut()
            with pytest.raises(IMAPClient.AbortError):
                client.noop()
        finally:
            client.shutdown()  # logout() would raise on the dead socket

        with IMAPClient(dovecot.host, port=proxy.port, ssl=False, timeout=5) as again:
            again.login(REFERRALS, "test-pass")
            assert again.select_folder("INBOX")[b"EXISTS"] == 0

        proxy.block()
        with pytest.raises((ConnectionError, IMAPClient.AbortError)):
            IMAPClient(dovecot.host, port=proxy.port, ssl=False, timeout=5)
        proxy.unblock()
        with IMAPClient(dovecot.host, port=proxy.port, ssl=False, timeout=5) as after:
            after.login(REFERRALS, "test-pass")


def test_fault_proxy_cuts_in_the_middle_of_a_fetch(mail_stack: MailStack) -> None:
    dovecot = mail_stack.dovecot
    body = b"x" * 76 + b"\r\n"
    dovecot.append(REFERRALS, b"Subject: big\r\n\r\n" + body * 4000)  # ~300 KB
    with FaultProxy(dovecot.host, dovecot.imap_port) as proxy:
        proxy.cut_after_bytes(50_000)
        client = IMAPClient(dovecot.host, port=proxy.port, ssl=False, timeout=5)
        try:
            client.login(REFERRALS, "test-pass")
            client.select_folder("INBOX", readonly=True)
            with pytest.raises((IMAPClient.AbortError, ConnectionError)):
                client.fetch("1:*", [b"BODY.PEEK[]"])
        finally:
            client.shutdown()


def test_add_user_is_picked_up(mail_stack: MailStack) -> None:
    mail_stack.dovecot.add_user("selfcheck-new@hub.test", "another-pass")
    with mail_stack.dovecot.imap_client("selfcheck-new@hub.test") as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


async def test_two_postgres_databases_are_distinct(postgres_url: str) -> None:
    other = create_database()
    try:
        first, second = database_name(postgres_url), database_name(other)
        assert first != second
        a = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database=first)
        b = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database=second)
        try:
            await a.execute("CREATE TABLE only_in_first (id int)")
            count = "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'"
            assert await a.fetchval(count) == 1
            assert await b.fetchval(count) == 0
        finally:
            await a.close()
            await b.close()
    finally:
        drop_database(other)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database=second)


async def test_db_url_gives_a_working_empty_database(db_url: str) -> None:
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE probe (id integer primary key)"))
            await conn.execute(sa.text("INSERT INTO probe (id) VALUES (1)"))
            assert (await conn.execute(sa.text("SELECT count(*) FROM probe"))).scalar_one() == 1
    finally:
        await engine.dispose()
