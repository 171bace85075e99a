"""Sessions, CSRF and the client address, through real HTTP against the hub's app with
test-only routes (the app itself has no pages yet)."""

from __future__ import annotations

import re
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from hub.crypto import keys
from hub.web import pages, security
from hub.web.app import build_app
from tests.support.hubs import TestHub, build_hub
from tests.web.conftest import ClientFactory, add_templates

COOKIE = "marrac-session"
FORM = """{% extends "base.html" %}
{% block content %}
<form method="post" novalidate>{{ csrf_field() }}<button class="govuk-button">Send</button></form>
{% endblock %}"""


def session_routes(app: web.Application) -> None:
    """/test/login sets a session, /test/whoami shows it, /test/logout ends it;
    /test/form shows a form and accepts it only with the CSRF token."""
    add_templates(app, {"form.html": FORM})

    async def login(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        security.set_session(response, {"agency": "st-aidans"}, max_age=600)
        return response

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"session": security.get_session(request)})

    async def logout(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        security.clear_session(response)
        return response

    async def show_form(request: web.Request) -> web.Response:
        return pages.render(request, "form.html")

    async def post_form(request: web.Request) -> web.Response:
        security.require_csrf(request, await request.post())
        return web.json_response({"accepted": True})

    async def whois(request: web.Request) -> web.Response:
        return web.json_response({"ip": security.client_ip(request)})

    app.router.add_get("/test/login", login)
    app.router.add_get("/test/whoami", whoami)
    app.router.add_get("/test/logout", logout)
    app.router.add_get("/test/form", show_form)
    app.router.add_post("/test/form", post_form)
    app.router.add_get("/test/whois", whois)


def set_cookie_header(response: ClientResponse) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie


async def whoami(client: TestClient[web.Request, web.Application]) -> object:
    return (await (await client.get("/test/whoami")).json())["session"]


async def form_token(client: TestClient[web.Request, web.Application]) -> str:
    response = await client.get("/test/form")
    assert response.status == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
    assert match is not None
    return match.group(1)


# --- sessions ----------------------------------------------------------------------------


async def test_a_session_cookie_is_signed_httponly_strict_and_round_trips(
    make_client: ClientFactory,
) -> None:
    client = await make_client(session_routes)
    response = await client.get("/test/login")
    morsel = set_cookie_header(response)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == "600"
    assert not morsel["secure"]  # http public_url: a Secure cookie would never come back
    session = await whoami(client)
    assert isinstance(session, dict)
    assert session["agency"] == "st-aidans"
    assert len(session["csrf"]) >= 43  # every session carries a CSRF token (32 bytes)


@pytest.mark.parametrize("where", ["payload", "signature", "truncated", "garbage", "empty"])
async def test_a_tampered_session_cookie_is_ignored_and_removed(
    make_client: ClientFactory, where: str
) -> None:
    client = await make_client(session_routes)
    await client.get("/test/login")
    value = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    body, _, mac = value.partition(".")
    flip = {"A": "B"}.get(body[5], "A")
    tampered = {
        "payload": f"{body[:5]}{flip}{body[6:]}.{mac}",
        "signature": f"{body}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",
        "truncated": value[:-1],
        "garbage": "not-a-session",
        "empty": ".",
    }[where]
    client.session.cookie_jar.update_cookies({COOKIE: tampered}, client.make_url("/"))
    response = await client.get("/test/whoami")
    assert (await response.json())["session"] is None
    # The bad cookie is taken away rather than sent again and again.
    assert set_cookie_header(response)[COOKIE].value == ""


async def test_a_session_signed_with_another_key_is_ignored(
    make_client: ClientFactory, hub: TestHub, tmp_path: Path
) -> None:
    other = await build_hub(tmp_path / "other")
    try:
        async with TestClient(TestServer(other.app(session_routes))) as other_client:
            await other_client.get("/test/login")
            cookie = other_client.session.cookie_jar.filter_cookies(other_client.make_url("/"))
            value = cookie[COOKIE].value
    finally:
        await other.ctx.close()
    client = await make_client(session_routes)
    client.session.cookie_jar.update_cookies({COOKIE: value}, client.make_url("/"))
    assert await whoami(client) is None


async def test_a_session_expires_on_the_hubs_clock(
    make_client: ClientFactory, hub: TestHub
) -> None:
    client = await make_client(session_routes)
    await client.get("/test/login")  # max_age=600
    hub.clock.advance(timedelta(seconds=599))
    assert await whoami(client) is not None
    hub.clock.advance(timedelta(seconds=1))  # the expiry instant is already too late
    assert await whoami(client) is None


async def test_after_a_token_key_rotation_old_sessions_no_longer_verify(
    make_client: ClientFactory, hub: TestHub
) -> None:
    client = await make_client(session_routes)
    await client.get("/test/login")
    value = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    keys.generate(hub.settings.hub.key_dir, ("token",))
    hub.ring = keys.load(hub.settings.hub.key_dir)
    rotated = await make_client(session_routes)
    rotated.session.cookie_jar.update_cookies({COOKIE: value}, rotated.make_url("/"))
    assert await whoami(rotated) is None


async def test_clear_session_deletes_the_cookie(make_client: ClientFactory) -> None:
    client = await make_client(session_routes)
    await client.get("/test/login")
    response = await client.get("/test/logout")
    morsel = set_cookie_header(response)[COOKIE]
    assert morsel.value == "" and morsel["max-age"] == "0"
    assert await whoami(client) is None


async def test_over_https_the_cookie_is_secure_host_prefixed_and_hsts_is_sent(
    tmp_path: Path,
) -> None:
    https = await build_hub(tmp_path, hub={"public_url": "https://hub.example.org"})
    try:
        async with TestClient(TestServer(https.app(session_routes))) as client:
            response = await client.get("/test/login")
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            cookies = set_cookie_header(response)
            assert list(cookies) == ["__Host-marrac-session"]
            morsel = cookies["__Host-marrac-session"]
            assert morsel["secure"] is True and morsel["path"] == "/" and not morsel["domain"]
            missing = await client.get("/nope")
            assert missing.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        await https.ctx.close()


# --- CSRF --------------------------------------------------------------------------------


async def test_a_form_page_creates_a_session_for_its_csrf_token(
    make_client: ClientFactory,
) -> None:
    client = await make_client(session_routes)
    token = await form_token(client)
    session = await whoami(client)
    assert session == {"csrf": token}
    assert await form_token(client) == token  # stable for the session


async def test_a_form_with_the_right_token_is_accepted(make_client: ClientFactory) -> None:
    client = await make_client(session_routes)
    token = await form_token(client)
    response = await client.post("/test/form", data={"csrf_token": token})
    assert response.status == 200
    assert await response.json() == {"accepted": True}


@pytest.mark.parametrize("token", [None, "", "wrong", "x" * 43])
async def test_a_form_without_the_right_token_gets_the_403_page(
    make_client: ClientFactory, token: str | None
) -> None:
    client = await make_client(session_routes)
    await form_token(client)
    data = {} if token is None else {"csrf_token": token}
    response = await client.post("/test/form", data=data)
    assert response.status == 403
    assert response.content_type == "text/html"
    body = await response.text()
    assert "Sorry, this form has expired" in body
    assert "Traceback" not in body
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_a_token_without_its_session_cookie_is_refused(make_client: ClientFactory) -> None:
    client = await make_client(session_routes)
    token = await form_token(client)
    client.session.cookie_jar.clear()
    response = await client.post("/test/form", data={"csrf_token": token})
    assert response.status == 403


async def test_another_sessions_token_is_refused(make_client: ClientFactory) -> None:
    first = await make_client(session_routes)
    second = await make_client(session_routes)
    await form_token(first)
    token_of_second = await form_token(second)
    response = await first.post("/test/form", data={"csrf_token": token_of_second})
    assert response.status == 403


async def test_a_cross_site_post_is_refused_even_with_the_token(
    make_client: ClientFactory,
) -> None:
    client = await make_client(session_routes)
    token = await form_token(client)
    for site in ("cross-site", "same-site"):
        response = await client.post(
            "/test/form", data={"csrf_token": token}, headers={"Sec-Fetch-Site": site}
        )
        assert response.status == 403, site
    response = await client.post(
        "/test/form", data={"csrf_token": token}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert response.status == 200


async def test_signing_in_on_a_form_page_keeps_the_token_the_page_shows(
    make_client: ClientFactory,
) -> None:
    async def sign_in_page(request: web.Request) -> web.Response:
        response = pages.render(request, "form.html")
        security.set_session(response, {"agency": "st-aidans"}, max_age=600)
        return response

    def routes(app: web.Application) -> None:
        session_routes(app)
        app.router.add_get("/test/sign-in", sign_in_page)

    client = await make_client(routes)
    response = await client.get("/test/sign-in")
    shown = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
    assert shown is not None
    session = await whoami(client)
    assert session == {"agency": "st-aidans", "csrf": shown.group(1)}


# --- the client's address ----------------------------------------------------------------


async def test_client_ip_is_the_peer_and_x_forwarded_for_is_not_believed(
    make_client: ClientFactory,
) -> None:
    client = await make_client(session_routes)
    response = await client.get("/test/whois", headers={"X-Forwarded-For": "203.0.113.9"})
    assert (await response.json())["ip"] == "127.0.0.1"


async def test_client_ip_behind_a_configured_proxy_is_the_nearest_untrusted_hop(
    hub: TestHub,
) -> None:
    app = build_app(hub.ctx, hub.ring, trusted_proxies=["127.0.0.0/8", "10.0.0.0/8"])
    session_routes(app)
    async with TestClient(TestServer(app)) as client:
        cases = {
            "203.0.113.9": "203.0.113.9",
            "198.51.100.1, 203.0.113.9, 10.1.2.3": "203.0.113.9",  # the proxy's own hop
            "not-an-ip": "127.0.0.1",
        }
        for header, expected in cases.items():
            response = await client.get("/test/whois", headers={"X-Forwarded-For": header})
            assert (await response.json())["ip"] == expected, header
        response = await client.get("/test/whois")
        assert (await response.json())["ip"] == "127.0.0.1"
