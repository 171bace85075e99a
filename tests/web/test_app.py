"""The application's own routes and its guarantees on every response: the published keys,
health, static files, error pages, and the security headers on all of them."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import create_async_engine
from yarl import URL

from hub.crypto import keys
from hub.crypto.signing import public_keys_document, sign_document, verify_document
from hub.web import app as web_app
from hub.web import pages
from tests.support.hubs import TestHub, build_hub
from tests.support.services import free_port, port_open
from tests.web.conftest import ClientFactory

EXPECTED_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CSP_PREFIX = (
    "default-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; script-src 'self' "
)
CSP_SUFFIX = "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


def assert_secure_headers(headers: Mapping[str, str]) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert headers[name] == value, name
    csp = headers["Content-Security-Policy"]
    assert csp.startswith(CSP_PREFIX) and csp.endswith(CSP_SUFFIX), csp
    # The only addition to script-src is the hash of GOV.UK's js-enabled script.
    extra = csp[len(CSP_PREFIX) : -len(CSP_SUFFIX)]
    assert extra.startswith("'sha256-") and " " not in extra, extra
    assert "unsafe" not in csp
    assert "Strict-Transport-Security" not in headers  # http public_url
    assert headers["Server"] == "marrac-hub"


def sample_page(app: web.Application) -> None:
    async def page(request: web.Request) -> web.Response:
        return pages.render(request, "error.html", {"title": "Sample", "paragraphs": ["Hello"]})

    app.router.add_get("/test/page", page)


async def test_a_page_carries_every_security_header(make_client: ClientFactory) -> None:
    client = await make_client(sample_page)
    response = await client.get("/test/page")
    assert response.status == 200
    assert_secure_headers(response.headers)
    body = await response.text()
    assert "<title>Sample – MARRAC information requests</title>" in body
    assert "MARRAC information requests" in body
    # No third-party content: every URL the page loads is on this origin.
    assert "http://" not in body and "https://" not in body and "//gov.uk" not in body


async def test_a_404_is_the_error_page_with_the_same_headers(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/r/some-secret-looking-token")
    assert response.status == 404
    assert response.content_type == "text/html"
    assert_secure_headers(response.headers)
    body = await response.text()
    assert "Page not found" in body
    assert "some-secret-looking-token" not in body  # the page never echoes the path


async def test_a_405_says_what_is_allowed(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.post("/healthz")
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert_secure_headers(response.headers)
    assert "Sorry, there is a problem with your request" in await response.text()


async def test_a_bug_shows_the_generic_page_and_logs_no_message(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise ValueError("Jane Doe 01/02/1980")  # personal data in an exception message

    client = await make_client(lambda app: app.router.add_get("/test/broken", broken))
    with caplog.at_level(logging.INFO, logger="hub.web"):
        response = await client.get("/test/broken")
    assert response.status == 500
    assert_secure_headers(response.headers)
    body = await response.text()
    assert "Sorry, there is a problem with the service" in body
    assert "Traceback" not in body and "Jane" not in body and "ValueError" not in body
    assert "event=web.unhandled route=/test/broken error=ValueError" in caplog.text
    assert "Jane" not in caplog.text


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/govuk/govuk-frontend.min.css", "text/css"),
        ("/static/govuk/govuk-frontend.min.js", "javascript"),
        ("/static/hub/init.js", "javascript"),
        ("/assets/images/favicon.svg", "image/svg+xml"),
        ("/assets/fonts/bold-b542beb274-v2.woff2", ""),
    ],
)
async def test_static_files_are_served_with_the_security_headers(
    make_client: ClientFactory, path: str, content_type: str
) -> None:
    client = await make_client()
    response = await client.get(path)
    assert response.status == 200
    assert content_type in response.headers["Content-Type"]
    assert_secure_headers(response.headers)


async def test_a_missing_static_file_is_the_404_page(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/static/govuk/nothing-here.css")
    assert response.status == 404
    assert "Page not found" in await response.text()
    assert_secure_headers(response.headers)


@pytest.mark.parametrize(
    "path",
    [
        "/static/govuk/../../../../package.json",
        "/static/govuk/..%2f..%2f..%2f..%2fpackage.json",
        "/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/static/hub/../../config.py",
    ],
)
async def test_static_routes_do_not_escape_their_folders(
    make_client: ClientFactory, path: str
) -> None:
    client = await make_client()
    # encoded=True: send the path as written, without the client resolving the dots.
    url = URL(str(client.make_url("/")).rstrip("/") + path, encoded=True)
    async with client.session.get(url) as response:
        assert response.status in (403, 404)
        assert_secure_headers(response.headers)
        body = await response.text()
    assert '"dependencies"' not in body and "[project]" not in body and "import" not in body


async def test_keys_json_publishes_the_active_signing_key(
    make_client: ClientFactory, hub: TestHub
) -> None:
    client = await make_client()
    response = await client.get("/.well-known/marrac-hub/keys.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert_secure_headers(response.headers)
    document = await response.json()
    assert document == public_keys_document(hub.ring)

    signing = [k for k in document["keys"] if k["use"] == "sig" and k["active"]]
    assert len(signing) == 1
    kid = hub.ring.active["signing"]
    assert signing[0]["kid"] == kid
    public = base64.urlsafe_b64decode(signing[0]["public_key"] + "=")
    assert public == bytes(hub.ring.signing_key.verify_key)
    # A document the hub signs verifies with nothing but what the endpoint published.
    envelope = sign_document({"request": 1}, hub.ring.signing_key, kid)
    assert verify_document(envelope, {signing[0]["kid"]: public}) == {"request": 1}


async def test_keys_json_after_rotation_lists_old_and_new_signing_keys(
    make_client: ClientFactory, hub: TestHub
) -> None:
    old = hub.ring.active["signing"]
    new = keys.generate(hub.settings.hub.key_dir, ("signing",))["signing"]
    hub.ring = keys.load(hub.settings.hub.key_dir)
    client = await make_client()
    document = await (await client.get("/.well-known/marrac-hub/keys.json")).json()
    signing = {k["kid"]: k["active"] for k in document["keys"] if k["use"] == "sig"}
    assert signing == {old: False, new: True}
    assert document["keys"][0]["kid"] == new  # the active key first


async def test_healthz_is_ok_when_the_database_answers(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert_secure_headers(response.headers)


async def test_healthz_is_503_when_the_database_does_not_answer(
    make_client: ClientFactory, hub: TestHub
) -> None:
    working = hub.ctx.engine
    # A PostgreSQL URL on a port nobody listens on: refused at once. (A SQLite file that
    # cannot be opened would do too, but aiosqlite's worker thread then outlives the
    # test's event loop and reports an error into the next test.)
    hub.ctx.engine = create_async_engine(
        f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none", pool_size=1
    )
    try:
        client = await make_client()
        response = await client.get("/healthz")
        assert response.status == 503
        assert await response.json() == {"status": "unavailable"}
    finally:
        await hub.ctx.engine.dispose()
        hub.ctx.engine = working


async def test_without_node_modules_pages_render_unstyled_and_warn_once(
    hub: TestHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-node-modules"
    with caplog.at_level(logging.WARNING, logger="hub.web"):
        web_app.build_app(hub.ctx, hub.ring, frontend_dist=missing)
        app = web_app.build_app(hub.ctx, hub.ring, frontend_dist=missing)
    assert caplog.text.count("event=web.frontend_missing") == 1
    sample_page(app)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/test/page")
        assert response.status == 200
        body = await response.text()
        assert "govuk-frontend.min.css" not in body and "init.js" not in body
        assert "Sample" in body
        assert (await client.get("/assets/images/favicon.svg")).status == 404


async def test_the_access_log_names_routes_never_paths(
    hub: TestHub, caplog: pytest.LogCaptureFixture
) -> None:
    async def link(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = hub.app(lambda a: a.router.add_get("/t/{token}", link))
    server = await web_app.start_web(app, "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.INFO, logger="hub.web.access"):
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{server.url}/t/SECRET-TOKEN-VALUE?x=1") as response:
                    assert response.status == 200
                async with session.get(f"{server.url}/nope/SECRET-2") as response:
                    assert response.status == 404
    finally:
        await server.stop()
    assert "route=/t/{token} status=200" in caplog.text
    assert "method=GET route=- status=404" in caplog.text
    assert "SECRET" not in caplog.text


async def test_run_web_serves_on_the_configured_port_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    hub = await build_hub(tmp_path, web={"host": "127.0.0.1", "port": port})
    stop = asyncio.Event()
    task = asyncio.create_task(web_app.run_web(hub.ctx, hub.ring, stop))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert await response.json() == {"status": "ok"}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            else:
                pytest.fail("run_web did not start listening")
        stop.set()
        await asyncio.wait_for(task, 10)
        assert not port_open("127.0.0.1", port)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await hub.ctx.close()


async def test_run_web_stops_when_cancelled(tmp_path: Path) -> None:
    port = free_port()
    hub = await build_hub(tmp_path, web={"host": "127.0.0.1", "port": port})
    task = asyncio.create_task(web_app.run_web(hub.ctx, hub.ring))
    try:
        for _ in range(100):
            if port_open("127.0.0.1", port):
                break
            await asyncio.sleep(0.02)
        assert port_open("127.0.0.1", port)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not port_open("127.0.0.1", port)
    finally:
        await hub.ctx.close()
