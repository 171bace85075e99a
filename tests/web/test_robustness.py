"""The web server under abuse and failure: slow and idle connections are closed, bytes no
page sends are a 400 (not a 500), a client that goes away is no error, source maps are
not served, and running out of file descriptors is an outage the server lives through.

The timeouts are the server's own (network time, not the hub's clock): a test sets them
to a second and checks the server has closed the connection a little after that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.config import load
from hub.services.context import initialise, open_context
from hub.store.models import OutboxMessage
from hub.web.app import FRONTEND_DIST, RunningWeb, start_web
from tests.support.hub import settings_dict, write_config
from tests.support.hubs import HubFactory, TestHub, sqlite_url
from tests.support.mail_stack import MailStack
from tests.support.processes import start_hub
from tests.support.services import free_port
from tests.web.conftest import SCHOOL, AgentFactory, ClientFactory, World, csrf_from

# A test's timeouts, and how long after them the connection must be closed by: generous,
# because this is about whether the server closes it at all, not how fast.
TIMEOUT = 1.0
MARGIN = 4.0
UNKNOWN_TOKEN = "x" * 43


@pytest.fixture
async def strict_hub(make_hub: HubFactory) -> TestHub:
    return await make_hub(web={"idle_timeout_seconds": TIMEOUT, "body_timeout_seconds": TIMEOUT})


@pytest.fixture
async def strict_server(strict_hub: TestHub) -> AsyncIterator[RunningWeb]:
    running = await start_web(strict_hub.app(), "127.0.0.1", 0)
    try:
        yield running
    finally:
        await running.stop()


async def closed_within(
    reader: asyncio.StreamReader, seconds: float, trickle: asyncio.Task[None] | None = None
) -> bytes:
    """Everything the server sends until it closes the connection, which it must do
    within ``seconds`` (else the test fails)."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for over {seconds:g} s")
    finally:
        if trickle is not None:
            trickle.cancel()
            await asyncio.gather(trickle, return_exceptions=True)


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float = 0.1) -> None:
    """Send ``data`` a byte at a time, as a slowloris client does."""
    for byte in data:
        writer.write(bytes([byte]))
        try:
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every)


# --- idle, slow headers, slow bodies -------------------------------------------------------


async def test_an_idle_connection_is_closed_after_the_idle_timeout(
    strict_server: RunningWeb,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    try:
        assert await closed_within(reader, TIMEOUT + MARGIN) == b""
    finally:
        writer.close()


async def test_a_kept_alive_connection_is_closed_when_idle_after_its_request(
    strict_server: RunningWeb,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"Connection: close" not in head  # kept alive
        await closed_within(reader, TIMEOUT + MARGIN)
    finally:
        writer.close()


async def test_headers_sent_slowly_are_cut_off_after_the_idle_timeout(
    strict_server: RunningWeb,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    # Headers that would take a minute to arrive, a byte every 0.1 s.
    head = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n" + b"X-Slow: " + b"a" * 600
    sending = asyncio.create_task(trickle(writer, head))
    try:
        assert await closed_within(reader, TIMEOUT + MARGIN, sending) == b""
    finally:
        writer.close()


async def test_a_body_sent_slowly_gets_408_and_the_connection_is_closed(
    strict_server: RunningWeb,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", strict_server.port)
    writer.write(
        f"POST /r/{UNKNOWN_TOKEN}/code HTTP/1.1\r\nHost: hub\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 600\r\n\r\n".encode()
    )
    sending = asyncio.create_task(trickle(writer, b"a" * 600))
    try:
        answer = await closed_within(reader, TIMEOUT + MARGIN, sending)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert b"took too long to arrive" in answer


# --- malformed bodies, clients that go away ------------------------------------------------


def huge_part_header(csrf: bytes, size: int) -> bytes:
    """A multipart body whose second part has a header line of ``size`` bytes."""
    return (
        b'--xyz\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + csrf
        + b'\r\n--xyz\r\nContent-Disposition: form-data; name="action"\r\nX-Huge: '
        + b"a" * size
        + b"\r\n\r\nanswered\r\n--xyz--\r\n"
    )


async def test_a_200kb_multipart_part_header_is_a_400_not_a_500(
    world: World, agents: AgentFactory, caplog: pytest.LogCaptureFixture
) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    status, _ = await agent.sign_in(world, SCHOOL, created.token)
    assert status == 200
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    csrf = csrf_from(agent.last).encode()
    with caplog.at_level(logging.INFO, logger="hub"):
        # The answer form; and a small form (the code's), which reads multipart too, with
        # a header under its 16 KB cap (a bigger body is a 413 before it is parsed).
        for path, size in (("/request", 200_000), (f"/r/{created.token}/verify", 10_000)):
            body = huge_part_header(csrf, size)
            async with agent.session.post(path, data=body, headers=headers) as response:
                assert response.status == 400, (path, response.status)
                assert "Sorry, there is a problem with your request" in await response.text()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert caplog.text.count("event=agency.bad_form reason=LineTooLong") == 2


async def test_a_client_that_goes_away_mid_upload_is_logged_at_info_not_as_an_error(
    world: World, agents: AgentFactory, served: str, caplog: pytest.LogCaptureFixture
) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    status, _ = await agent.sign_in(world, SCHOOL, created.token)
    assert status == 200
    cookie = next(c for c in agent.session.cookie_jar if c.key == "marrac-session")
    host, port = served.removeprefix("http://").split(":")
    start = (
        b'--xyz\r\nContent-Disposition: form-data; name="attachment"; filename="a.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n" + b"0" * 50_000
    )
    with caplog.at_level(logging.INFO, logger="hub"):
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                f"POST /request HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Cookie: marrac-session={cookie.value}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                "Content-Length: 1000000\r\n\r\n"
            ).encode()
            + start
        )
        await writer.drain()
        writer.transport.abort()  # gone, a twentieth of the way through
        deadline = time.monotonic() + 10
        while "event=web.client_disconnected" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            await asyncio.sleep(0.05)
    gone = [r for r in caplog.records if "event=web.client_disconnected" in r.getMessage()]
    assert [r.levelno for r in gone] == [logging.INFO]
    assert "route=/request" in gone[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


# --- static files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/static/govuk/govuk-frontend.min.js.map",
        "/static/govuk/components/file-upload/file-upload.bundle.js.map",
        "/assets/images/favicon.svg.map",
    ],
)
async def test_source_maps_are_not_served(make_client: ClientFactory, path: str) -> None:
    on_disk = FRONTEND_DIST / path.removeprefix("/static/govuk/")
    if path.startswith("/static/govuk/"):
        assert on_disk.is_file(), on_disk  # the map is there to serve: it must not be
    client = await make_client()
    response = await client.get(path)
    assert response.status == 404
    assert "Page not found" in await response.text()


# --- out of file descriptors -----------------------------------------------------------------


def log_count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text)


def wait_for_log(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, "the hub exited:\n" + log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n" + log.read_text()[-3000:]
        time.sleep(0.05)


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return int(response.status)


async def outage_alerts(config: Path) -> int:
    ctx = await open_context(load(config, env={}))
    try:
        async with ctx.sessions() as s, s.begin():
            kinds = (await s.scalars(select(OutboxMessage.kind))).all()
        return sum(kind == "alert:outage" for kind in kinds)
    finally:
        await ctx.close()


def test_out_of_file_descriptors_serve_waits_alerts_once_and_recovers(
    mail_stack: MailStack, tmp_path: Path
) -> None:
    # Given `marrac-hub serve` (intake idling on real Dovecot), its descriptors then
    # limited to what it holds plus a few, and idle connections kept open
    port = free_port()
    raw = settings_dict(
        tmp_path,
        sqlite_url(tmp_path),
        imap_port=mail_stack.dovecot.imap_port,
        smtp_port=mail_stack.smtp.port,
        web={"host": "127.0.0.1", "port": port, "idle_timeout_seconds": 600},
    )
    config = write_config(tmp_path / "hub.toml", raw)
    asyncio.run(initialise(load(config, env={})))
    log = tmp_path / "hub.log"
    proc = start_hub(config, log)
    clients: list[socket.socket] = []
    try:
        wait_for_log(log, "event=web.listening", proc)
        assert healthz(port) == 200
        held = len(os.listdir(f"/proc/{proc.pid}/fd"))
        resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (held + 12, held + 12))
        # When far more clients connect than it has descriptors for
        for _ in range(60):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        wait_for_log(log, "event=web.out_of_descriptors", proc)
        time.sleep(3)  # the outage itself: asyncio retries accept() each second meanwhile
        # Then it is still running, and has said so once (not once a second)
        assert proc.poll() is None, log.read_text()[-3000:]
        assert log_count(log, "event=web.out_of_descriptors") == 1
        assert log_count(log, "event=web.accepting_again") == 0
        # And when the clients go, it serves again, and says that too
        for client in clients:
            client.close()
        clients.clear()
        wait_for_log(log, "event=web.accepting_again", proc)
        assert healthz(port) == 200
        assert proc.poll() is None
    finally:
        for client in clients:
            client.close()
        proc.terminate()
        code = proc.wait(30)
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert text.count("event=web.out_of_descriptors") == 1
    assert "socket.accept() out of system resource" not in text  # asyncio's, each second
    assert "Too many open files" not in text
    # The team leader was alerted, once
    assert asyncio.run(outage_alerts(config)) == 1
