"""Who can get at a request through its link, and what everyone else sees.

A real hub (the case study taken in from real Dovecot, requests created by the service,
codes mailed through real SMTP into the agency's real mailbox) serves the agency pages on
a loopback port; clients are plain HTTP with their own cookies, like browsers without
JavaScript. Before the code is proved no page names anybody in the case.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import secrets
import statistics
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from yarl import URL

from connectors.imap import ImapSource
from hub.crypto import keys
from hub.runtime import drain
from hub.services import info_requests
from hub.services.context import Context
from hub.store.models import Answer, AuditEvent, InfoRequest, OutboxMessage, RequestLink
from hub.web import agency, ratelimit, security
from hub.web.app import build_app, start_web
from tests.support.hub import REFERRALS, TEAM_LEADER
from tests.support.mail_stack import MailStack
from tests.support.referrals import referral
from tests.web.conftest import (
    CASE_NAMES,
    GP,
    HEALTH_VISITOR,
    SCHOOL,
    Agent,
    AgentFactory,
    World,
    csrf_from,
    open_world,
)

SCHOOL_QUESTIONS = ("known", "concerns", "contact")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17
DOCX = agency.DOCX


def assert_no_names(html: str) -> None:
    for name in CASE_NAMES:
        assert name not in html, f"{name!r} shown before the code was proved"


def answer_form(
    questions: tuple[str, ...] = SCHOOL_QUESTIONS,
    text: str = "Known to us; attends daily.",
    files: tuple[tuple[str, bytes, str], ...] = (),
    date: tuple[str, str, str] = ("", "", ""),
    extra: tuple[tuple[str, str], ...] = (),
) -> aiohttp.FormData:
    """The answer form as a browser sends it (multipart, files last)."""
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("action", "answered")
    for qid in questions:
        form.add_field(f"q.{qid}.known", "yes")
        for part, value in zip(("day", "month", "year"), date, strict=True):
            form.add_field(f"q.{qid}.last-contact-{part}", value)
        form.add_field(f"q.{qid}.text", text)
    for name, value in extra:
        form.add_field(name, value)
    for filename, data, content_type in files:
        form.add_field("attachment", io.BytesIO(data), filename=filename, content_type=content_type)
    return form


async def count(ctx: Context, model: Any, *where: Any) -> int:
    async with ctx.sessions() as s, s.begin():
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int(await s.scalar(query) or 0)


async def outbox_kinds(ctx: Context) -> list[str]:
    async with ctx.sessions() as s, s.begin():
        return list((await s.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id))).all())


async def audit_actions(ctx: Context) -> list[str]:
    async with ctx.sessions() as s, s.begin():
        return list((await s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())


async def state_of(ctx: Context, request_id: int) -> str:
    async with ctx.sessions() as s, s.begin():
        found = await s.get(InfoRequest, request_id)
        assert found is not None
        return found.state


async def answers_for(ctx: Context, request_id: int) -> int:
    return await count(ctx, Answer, Answer.request_id == request_id)


async def signed_in(world: World, agents: AgentFactory, slug: str = SCHOOL) -> tuple[Agent, Any]:
    created = await world.create(slug)
    agent = agents()
    status, html = await agent.sign_in(world, slug, created.token)
    assert status == 200 and ("Lily Clarke" in html or "Emma Clarke" in html), status
    return agent, created


# --- links that cannot be used -------------------------------------------------------------


async def test_unknown_truncated_expired_and_revoked_links_all_get_the_same_page(
    world: World, agents: AgentFactory
) -> None:
    expired = await world.create(SCHOOL)
    world.clock.advance(timedelta(days=15))  # past the 14-day life of a link
    revoked = await world.create(GP)
    await info_requests.withdraw(world.ctx, revoked.ref, "cc@hub.test")
    live = await world.create(HEALTH_VISITOR)
    tokens = {
        "guessed": secrets.token_urlsafe(32),
        "truncated": live.token[:-2],
        "garbled": "not-a-token-at-all",
        "expired": expired.token,
        "revoked": revoked.token,
    }
    agent = agents()
    await agent.get("/r/x")  # the first page starts the session whose CSRF token it shows
    bodies: dict[bytes, list[str]] = {}
    for name, token in tokens.items():
        async with agent.session.get(f"/r/{token}") as response:
            assert response.status == 404, name
            bodies.setdefault(await response.read(), []).append(name)
    assert len(bodies) == 1, f"pages differ: {list(bodies.values())}"
    page = next(iter(bodies)).decode()
    assert "Page not found" in page and "Send a fresh link to our registered mailbox" in page
    assert_no_names(page)
    for token in tokens.values():
        assert token not in page
    for ref in (expired.ref, revoked.ref, live.ref):
        assert ref not in page

    # Asking for a code is refused alike, and nothing is mailed.
    for name, token in tokens.items():
        async with agent.session.post(
            f"/r/{token}/code", data={security.CSRF_FIELD: csrf_from(page)}
        ) as response:
            assert response.status == 404, name
            assert await response.read() == page.encode(), name
        status, html = await agent.get(f"/r/{token}/code")
        assert status == 404 and html == page, name
    assert "link-code" not in await outbox_kinds(world.ctx)

    # The live link still works, and shows only what its email shows.
    status, html = await agent.get(f"/r/{live.token}")
    assert status == 200 and live.ref in html and "Preston Health Visiting Team" in html
    assert_no_names(html)

    # Unusable tokens read nothing: counted per minute, never audited one by one.
    actions = await audit_actions(world.ctx)
    assert "link.view.unusable" not in actions and "link.code.refused" not in actions
    counted = world.ctx.attempts.counts()
    assert counted["link.view.unusable"] >= 2 * len(tokens)
    assert counted["link.code.refused"] == len(tokens)
    assert "link.view.ok" in actions


@pytest.fixture
async def unlimited_agent(world: World) -> AsyncIterator[Agent]:
    """A client of ``world``'s hub served with its rate limits off: for tests that
    measure, or send more than a person would, from one address."""
    app = world.hub.app()
    app[ratelimit.RATE_LIMITS] = ratelimit.RateLimits(ratelimit.Bucket(0), ratelimit.Bucket(0))
    running = await start_web(app, "127.0.0.1", 0)
    agent = Agent(running.url)
    try:
        yield agent
    finally:
        await agent.close()
        await running.stop()


async def test_unusable_links_answer_alike_in_time(world: World, unlimited_agent: Agent) -> None:
    """No timing oracle: unknown, expired and revoked tokens take the same path.

    A security property, not a benchmark: 200 requests of each kind, interleaved so that
    any drift of the machine hits all three alike, and a loose bound on the medians. (The
    rate limits are off: they would, rightly, stop this many requests from one address.)
    """
    expired = await world.create(SCHOOL)
    world.clock.advance(timedelta(days=15))
    revoked = await world.create(GP)
    await info_requests.withdraw(world.ctx, revoked.ref, "cc@hub.test")
    kinds = {
        "unknown": secrets.token_urlsafe(32),
        "expired": expired.token,
        "revoked": revoked.token,
    }
    agent = unlimited_agent
    await agent.get("/r/warm-up")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    bodies: set[bytes] = set()
    for _ in range(200):
        for kind, token in kinds.items():
            started = time.perf_counter()
            async with agent.session.get(f"/r/{token}") as response:
                body = await response.read()
            times[kind].append(time.perf_counter() - started)
            assert response.status == 404
            bodies.add(body)
    assert len(bodies) == 1
    medians = {k: statistics.median(v) for k, v in times.items()}
    assert max(medians.values()) <= 1.5 * min(medians.values()), medians


async def test_a_fresh_link_goes_to_the_registered_mailbox_and_the_page_says_the_same_for_all(
    world: World, agents: AgentFactory
) -> None:
    expired = await world.create(SCHOOL)
    world.clock.advance(timedelta(days=15))
    agent = agents()
    pages = []
    for token in (expired.token, secrets.token_urlsafe(32), "short"):
        status, _ = await agent.get(f"/r/{token}")
        assert status == 404
        # The page's form has no action: it posts to the link's own address.
        status, html = await agent.post(f"/r/{token}")
        assert status == 200 and "Check your organisation" in html
        assert_no_names(html)
        pages.append(html)
    assert len(set(pages)) == 1

    await world.deliver()
    fresh = world.link_path(SCHOOL, expired.ref)
    assert fresh != f"/r/{expired.token}"
    status, html = await agent.get(fresh)
    assert status == 200 and expired.ref in html
    actions = await audit_actions(world.ctx)
    assert actions.count("link.renew") == 1 and "link.renew.refused" not in actions
    assert world.ctx.attempts.counts()["link.renew.refused"] == 2  # counted, not audited


# --- looking is not acting -----------------------------------------------------------------


async def test_opening_the_landing_page_repeatedly_changes_nothing(
    world: World, agents: AgentFactory
) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    for _ in range(3):
        status, html = await agent.get(f"/r/{created.token}")
        assert status == 200 and created.ref in html
        assert_no_names(html)
        # What the mail says, and the signature to check by phone.
        assert "St Aidan" in html and "Signature fingerprint" in html
        assert "Send me a one-time code" in html
    async with agent.session.head(f"/r/{created.token}") as response:
        assert response.status == 200
    assert await state_of(world.ctx, created.id) == "sent"
    assert "link-code" not in await outbox_kinds(world.ctx)
    async with world.ctx.sessions() as s, s.begin():
        link = await s.scalar(select(RequestLink).where(RequestLink.request_id == created.id))
        assert link is not None
        assert link.codes_sent == 0 and link.code_hash is None and link.code_tries == 0
    assert (await audit_actions(world.ctx)).count("link.view.ok") >= 3


# --- the code ------------------------------------------------------------------------------


async def test_five_wrong_codes_lock_the_link_and_alert_the_team(
    world: World, agents: AgentFactory
) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    await agent.get(f"/r/{created.token}")
    status, html = await agent.post(f"/r/{created.token}/code")
    assert status == 200 and "Check your email" in html
    code = await world.code(SCHOOL)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        status, html = await agent.post(f"/r/{created.token}/verify", {"code": wrong})
        assert status == 200 and "There is a problem" in html
        assert f"You have {left} {'try' if left == 1 else 'tries'} left" in html
        assert_no_names(html)
    status, html = await agent.post(f"/r/{created.token}/verify", {"code": wrong})
    assert status == 403 and "This link is locked" in html
    # Even the right code is no use now, and the link stays locked.
    await agent.get("/r/x")
    status, html = await agent.post(f"/r/{created.token}/verify", {"code": code})
    assert status == 403 and "locked" in html
    status, html = await agent.get(f"/r/{created.token}")
    assert status == 403 and "This link is locked" in html
    assert_no_names(html)
    status, html = await agent.get("/request")
    assert status == 403 and "Your session has ended" in html

    assert "alert:link-locked" in await outbox_kinds(world.ctx)
    await world.deliver()
    alerts = world.stack.smtp.messages(to=TEAM_LEADER)
    assert any(created.ref in str(m["Subject"]) and "locked" in str(m["Subject"]) for m in alerts)
    actions = await audit_actions(world.ctx)
    assert actions.count("link.code.wrong") == 4
    assert actions.count("link.code.locked") == 1
    assert "link.code.refused" in actions and "link.code.sent" in actions


async def test_a_typing_slip_costs_no_try(world: World, agents: AgentFactory) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    await agent.get(f"/r/{created.token}")
    await agent.post(f"/r/{created.token}/code")
    for typed in ("", "12345", "abcdef", "1234567"):
        status, html = await agent.post(f"/r/{created.token}/verify", {"code": typed})
        assert status == 200 and "There is a problem" in html and "tries left" not in html
    code = await world.code(SCHOOL)
    # Spaces and dashes, as people copy codes, are fine.
    status, html = await agent.post(
        f"/r/{created.token}/verify", {"code": f" {code[:3]} - {code[3:]} "}
    )
    assert status == 200 and "Lily Clarke" in html


def session_data(agent: Agent) -> dict[str, Any]:
    cookie = next(c for c in agent.session.cookie_jar if c.key == "marrac-session")
    body = cookie.value.partition(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return dict(payload["data"])


async def test_the_code_is_exchanged_for_a_fresh_session_holding_ids_only(
    world: World, agents: AgentFactory
) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    await agent.get(f"/r/{created.token}")
    anonymous = session_data(agent)
    assert set(anonymous) == {"csrf"}
    status, _ = await agent.post(f"/r/{created.token}/code", follow=False)
    assert status == 303
    status, html = await agent.get(f"/r/{created.token}/code")
    assert status == 200 and 'autocomplete="one-time-code"' in html
    code = await world.code(SCHOOL)
    async with agent.session.post(
        f"/r/{created.token}/verify",
        data={"code": code, security.CSRF_FIELD: csrf_from(html)},
        allow_redirects=False,
    ) as response:
        assert response.status == 303 and response.headers["Location"] == "/request"
        raw_cookie = response.headers["Set-Cookie"]
    session = session_data(agent)
    assert set(session) == {"request_id", "link_id", "csrf"}
    assert session["request_id"] == created.id
    assert session["csrf"] != anonymous["csrf"]  # a new session, not the anonymous one
    assert "HttpOnly" in raw_cookie and "SameSite=Strict" in raw_cookie
    status, html = await agent.get("/request")
    assert status == 200 and "Lily Clarke" in html
    assert created.token not in html  # the page no longer carries the link
    # The form starts empty: no text areas or date fields holding "None".
    assert set(re.findall(r"<textarea[^>]*>([^<]*)</textarea>", html)) == {""}
    assert 'value="None"' not in html
    assert await state_of(world.ctx, created.id) == "opened"
    assert "link.code.ok" in await audit_actions(world.ctx)


async def test_codes_stop_after_the_limit_for_a_link(world: World, agents: AgentFactory) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    await agent.get(f"/r/{created.token}")
    for _ in range(world.settings.requests.max_codes_per_link):
        status, html = await agent.post(f"/r/{created.token}/code")
        assert status == 200 and "Check your email" in html
    status, html = await agent.post(f"/r/{created.token}/code")
    assert status == 429 and "Too many codes" in html
    assert_no_names(html)
    kinds = await outbox_kinds(world.ctx)
    assert kinds.count("link-code") == world.settings.requests.max_codes_per_link
    assert "link.code.limit" in await audit_actions(world.ctx)


async def test_a_forwarded_link_does_not_get_past_the_code(
    world: World, agents: AgentFactory
) -> None:
    created = await world.create(SCHOOL)
    owner = agents()
    status, html = await owner.sign_in(world, SCHOOL, created.token)
    assert status == 200 and "Lily Clarke" in html
    used_code = await world.code(SCHOOL)

    stranger = agents()  # someone the mail was forwarded to: the link, not the mailbox
    status, html = await stranger.get(f"/r/{created.token}")
    assert status == 200
    assert_no_names(html)
    status, html = await stranger.post(f"/r/{created.token}/code")
    assert status == 200 and "Check your email" in html  # ... the agency's email, not theirs
    fresh = await world.code(SCHOOL)
    for guess in {used_code, "000000", "123456", "999999"} - {fresh}:
        status, html = await stranger.post(f"/r/{created.token}/verify", {"code": guess})
        assert status == 200 and "The code is not right" in html
        assert_no_names(html)
    status, html = await stranger.get("/request")
    assert status == 403 and "Your session has ended" in html
    assert_no_names(html)
    status, html = await stranger.post("/request", answer_form(), csrf=False)
    assert status == 403
    assert_no_names(html)
    assert await answers_for(world.ctx, created.id) == 0
    # The owner's session is untouched.
    status, html = await owner.get("/request")
    assert status == 200 and "Lily Clarke" in html


async def test_a_code_or_session_for_one_case_opens_no_other(
    world: World, agents: AgentFactory
) -> None:
    world.stack.dovecot.append(REFERRALS, referral(7))
    source = ImapSource(world.settings.intake)
    try:
        report = await drain(world.ctx, source)
    finally:
        await source.close()
    other_case = report.results[0].case_ref
    assert other_case is not None and other_case != world.case_ref
    ours = await world.create(SCHOOL)
    theirs = await info_requests.create_request(
        world.ctx, case_ref=other_case, agency_slug=SCHOOL, actor="cc@hub.test"
    )
    agent = agents()
    await agent.get(f"/r/{ours.token}")
    await agent.post(f"/r/{ours.token}/code")
    our_code = await world.code(SCHOOL)
    await agent.get(f"/r/{theirs.token}")
    await agent.post(f"/r/{theirs.token}/code")
    their_code = await world.code(SCHOOL)
    if their_code != our_code:  # one chance in a million that they are the same
        status, html = await agent.post(f"/r/{theirs.token}/verify", {"code": our_code})
        assert status == 200 and "The code is not right" in html
        assert "Number7" not in html
        assert_no_names(html)
    status, html = await agent.post(f"/r/{ours.token}/verify", {"code": our_code})
    assert status == 200 and ours.ref in html and "Lily Clarke" in html
    assert theirs.ref not in html and "Number7" not in html

    # A session cookie edited to name the other request does not verify.
    jar = agent.session.cookie_jar
    cookie = next(c for c in jar if c.key == "marrac-session")
    body, _, mac = cookie.value.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["data"]["request_id"] = theirs.id
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    jar.update_cookies({"marrac-session": f"{forged}.{mac}"}, response_url=URL(agent.base_url))
    assert [c.value for c in jar if c.key == "marrac-session"] == [f"{forged}.{mac}"]
    status, html = await agent.get("/request")
    assert status == 403 and "Your session has ended" in html and "Number7" not in html


# --- CSRF ----------------------------------------------------------------------------------


async def test_every_form_needs_its_csrf_token(world: World, agents: AgentFactory) -> None:
    created = await world.create(SCHOOL)
    agent = agents()
    await agent.get(f"/r/{created.token}")
    token = csrf_from(agent.last)
    refusals = [
        await agent.post(f"/r/{created.token}/code", {}, csrf=False),
        await agent.post(f"/r/{created.token}/code", {"csrf_token": "x" * 43}, csrf=False),
        await agent.post(
            f"/r/{created.token}/code",
            {"csrf_token": token},
            csrf=False,
            headers={"Sec-Fetch-Site": "cross-site"},
        ),
        await agent.post(f"/r/{created.token}/verify", {"code": "123456"}, csrf=False),
        await agent.post(f"/r/{created.token}", {}, csrf=False),
    ]
    # A token shown to one browser is no use to another.
    other = agents()
    refusals.append(await other.post(f"/r/{created.token}/code", {"csrf_token": token}, csrf=False))
    for status, html in refusals:
        assert status == 403 and "Sorry, this form has expired" in html
        assert_no_names(html)
    assert "link-code" not in await outbox_kinds(world.ctx)

    status, html = await agent.sign_in(world, SCHOOL, created.token)
    assert status == 200
    for form in (answer_form(), answer_form(extra=(("csrf_token", "forged"),))):
        status, html = await agent.post("/request", form, csrf=False)
        assert status == 403 and "Sorry, this form has expired" in html
        assert_no_names(html)
    status, html = await agent.post(
        "/request", {"action": "no-information", "csrf_token": "nope"}, csrf=False
    )
    assert status == 403
    assert await answers_for(world.ctx, created.id) == 0
    assert await state_of(world.ctx, created.id) == "opened"


async def test_without_a_session_the_request_is_not_shown(
    world: World, agents: AgentFactory
) -> None:
    await world.create(SCHOOL)
    agent = agents()
    status, html = await agent.get("/request")
    assert status == 403 and "Your session has ended" in html
    assert "open the link from your email again" in html.lower()
    assert_no_names(html)
    status, html = await agent.post("/request", answer_form(), csrf=False)
    assert status == 403 and "Your session has ended" in html
    assert_no_names(html)


# --- answering -----------------------------------------------------------------------------


async def test_markup_in_answers_is_shown_escaped_and_kept_as_sent(
    world: World, agents: AgentFactory
) -> None:
    agent, created = await signed_in(world, agents)
    markup = '<script>alert("owned")</script><img src=x onerror=alert(1)> & more'
    # First with a mistake, so the form comes back holding the text.
    status, html = await agent.post("/request", answer_form(text=markup, date=("31", "2", "2026")))
    assert status == 200 and "Last contact must be a real date" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;owned&#34;)" in html
    status, html = await agent.post("/request", answer_form(text=markup, date=("10", "3", "2026")))
    assert status == 200 and "Answer received" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;img src=x" in html
    shown = await info_requests.show_request(world.ctx, created.ref, "cc@hub.test")
    content = shown["answers"][0]["content"]
    assert content["answers"][0]["text"] == markup
    assert content["answers"][0]["last_contact"] == "2026-03-10"
    assert content["answers"][0]["known"] is True


async def test_the_answer_form_is_checked_against_the_questions(
    world: World, agents: AgentFactory
) -> None:
    agent, created = await signed_in(world, agents)
    # A field for a question this request does not ask: refused outright.
    status, _ = await agent.post("/request", answer_form(extra=(("q.salary.text", "x"),)))
    assert status == 400
    await agent.get("/request")
    status, _ = await agent.post("/request", answer_form(extra=(("action", "answered"),)))
    assert status == 400  # a field sent twice
    await agent.get("/request")
    cases = [
        (answer_form(text="x" * 20_001), "20,000 characters or fewer"),
        (answer_form(date=("1", "1", "2027")), "today or in the past"),
        (answer_form(date=("1", "", "2026")), "must include a month"),
        (answer_form(questions=("known", "concerns")), "Question 3: select whether"),
    ]
    for form, message in cases:
        status, html = await agent.post("/request", form)
        assert status == 200 and message in html and "Error: " in html, message
    status, html = await agent.post("/request", {"action": "declined", "decline_reason": " "})
    assert status == 200 and "Enter why you cannot answer this request" in html
    assert await answers_for(world.ctx, created.id) == 0

    status, html = await agent.post(
        "/request", {"action": "declined", "decline_reason": "No consent <b>given</b>"}
    )
    assert status == 200 and "Refusal received" in html and "&lt;b&gt;given" in html
    shown = await info_requests.show_request(world.ctx, created.ref, "cc@hub.test")
    assert shown["status"] == "declined"
    assert shown["answers"][0]["content"]["decline_reason"] == "No consent <b>given</b>"


async def test_no_information_held_completes_the_request(
    world: World, agents: AgentFactory
) -> None:
    agent, created = await signed_in(world, agents, GP)
    status, html = await agent.post("/request", {"action": "no-information"})
    # A reply worded as people write it (not "No information held received"), and the
    # receipt's files as a word, not as a Python list.
    assert status == 200 and "Reply received" in html
    assert "No information held received" not in html and "[]" not in html
    assert ">None<" in html.replace("\n", "").replace(" ", "")
    assert await state_of(world.ctx, created.id) == "no-information"
    status, html = await agent.get("/request")
    assert status == 200 and "already been answered" in html
    status, html = await agent.get(f"/r/{created.token}")
    assert status == 200 and "already been answered" in html


async def test_an_answered_link_says_so_and_names_nobody(
    world: World, agents: AgentFactory
) -> None:
    agent, created = await signed_in(world, agents)
    status, html = await agent.post(
        "/request", answer_form(files=(("a.pdf", PDF, "application/pdf"),))
    )
    assert status == 200 and "Answer received" in html
    assert f"Your reference<br><strong>{created.ref}</strong>" in html
    # The receipt names its files once, plainly, and says "What you sent" once.
    assert "a.pdf" in html and "{" not in html.split("Files attached")[1].split("</dd>")[0]
    assert "&#39;filename&#39;" not in html and "'filename'" not in html
    assert html.count("What you sent") == 1
    assert "before the case is discussed" not in html
    stranger = agents()
    status, html = await stranger.get(f"/r/{created.token}")
    assert status == 200 and "already been answered" in html
    assert_no_names(html)
    await stranger.get("/r/x")  # a page with a form, for a CSRF token
    status, html = await stranger.post(f"/r/{created.token}/code")
    assert status == 200 and "already been answered" in html
    assert_no_names(html)
    assert (await outbox_kinds(world.ctx)).count("link-code") == 1  # the owner's only
    # The one who answered gets the same message on a second try.
    status, html = await agent.get("/request")
    assert "already been answered" in html
    assert await answers_for(world.ctx, created.id) == 1


# --- uploads -------------------------------------------------------------------------------


def docx(with_document: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if with_document:
            archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


async def test_uploads_are_checked_by_type_extension_and_content(
    world: World, agents: AgentFactory
) -> None:
    agent, created = await signed_in(world, agents)
    refused = [
        ("tool.exe", b"MZ\x90\x00", "application/x-msdownload"),  # not an allowed type
        ("page.html", b"<html><script>x</script>", "text/html"),  # not an allowed type
        ("report.pdf", PNG, "application/pdf"),  # says PDF, is a PNG
        ("photo.png", PNG, "application/pdf"),  # type and extension disagree
        ("photo.pdf", PNG, "image/png"),  # type and extension disagree
        ("notes.txt", b"text\x00with a NUL", "text/plain"),  # binary, not text
        ("letter.docx", docx(with_document=False), DOCX),  # a zip, not a Word document
        ("letter.docx", b"PK\x03\x04 not really a zip", DOCX),
        ("empty.pdf", b"", "application/pdf"),
    ]
    for filename, data, content_type in refused:
        form = answer_form(text="kept on the page", files=((filename, data, content_type),))
        status, html = await agent.post("/request", form)
        assert status == 200, filename
        assert "There is a problem" in html and 'href="#attachment"' in html, filename
        assert "The selected file must be a PDF" in html or "is empty" in html, filename
        assert "kept on the page" in html  # what was typed is not lost
    six = tuple((f"page{n}.pdf", PDF, "application/pdf") for n in range(6))
    status, html = await agent.post("/request", answer_form(files=six))
    assert status == 200 and "Select up to 5 files" in html
    assert await answers_for(world.ctx, created.id) == 0
    assert await state_of(world.ctx, created.id) == "opened"

    accepted = (
        ("../../etc/Report 2026.PDF", PDF, "application/pdf"),
        ("C:\\Users\\dsl\\letter.docx", docx(), DOCX),
        ("scan.jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 16, "image/jpeg"),
        ("notes.txt", "Seen on Monday — all well.".encode(), "text/plain"),
    )
    status, html = await agent.post("/request", answer_form(files=accepted))
    assert status == 200 and "Answer received" in html
    shown = await info_requests.show_request(world.ctx, created.ref, "cc@hub.test")
    files = shown["answers"][0]["content"]["attachments"]
    assert [(f["filename"], f["content_type"]) for f in files] == [
        ("Report 2026.pdf", "application/pdf"),
        ("letter.docx", DOCX),
        ("scan.jpeg", "image/jpeg"),
        ("notes.txt", "text/plain"),
    ]
    assert base64.b64decode(files[0]["data"]) == PDF


async def test_an_oversized_upload_is_refused_with_the_form_kept(
    world: World, agents: AgentFactory
) -> None:
    agent, created = await signed_in(world, agents)
    limit = world.settings.requests.max_upload_bytes
    big = PDF + b"0" * (limit + 1 - len(PDF))
    status, html = await agent.post(
        "/request",
        answer_form(text="typed before the file", files=(("big.pdf", big, "application/pdf"),)),
    )
    assert status == 200
    assert "must be smaller than 10 MB in total" in html and "typed before the file" in html
    assert await answers_for(world.ctx, created.id) == 0


async def test_a_huge_body_is_refused_before_it_is_read(
    world: World, agents: AgentFactory, served: str
) -> None:
    agent, created = await signed_in(world, agents)
    cookie = next(c for c in agent.session.cookie_jar if c.key == "marrac-session")
    host, port = served.removeprefix("http://").split(":")
    # A Content-Length of 1 GiB, and not one byte of body: the answer comes at once.
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            (
                "POST /request HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                f"Cookie: marrac-session={cookie.value}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {2**30}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        started = time.perf_counter()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert time.perf_counter() - started < 2
        assert head.startswith(b"HTTP/1.1 413 ")
    finally:
        writer.close()
    # Streamed without a length, reading stops at the cap.
    cap = agency.body_cap(world.ctx)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        start = (
            f'--xyz\r\nContent-Disposition: form-data; name="{security.CSRF_FIELD}"\r\n\r\n'
            f"{csrf_from(agent.last)}\r\n--xyz\r\nContent-Disposition: form-data; "
            'name="attachment"; filename="huge.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
        )
        yield start.encode()
        chunk = b"0" * (1024 * 1024)
        while sent < 3 * cap:
            sent += len(chunk)
            yield chunk
        yield b"\r\n--xyz--\r\n"

    async with agent.session.post(
        "/request", data=body(), headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    ) as response:
        html = await response.text()
        assert response.status == 413
    assert "must be smaller than" in html
    assert await answers_for(world.ctx, created.id) == 0


async def test_malformed_bodies_are_refused_and_break_nothing(
    world: World, agents: AgentFactory
) -> None:
    agent, created = await signed_in(world, agents)
    csrf = csrf_from(agent.last).encode()
    field = b'--xyz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
    bodies = [
        ("multipart/form-data", b"no boundary"),
        ("multipart/form-data; boundary=", b"--\r\n"),
        ("multipart/form-data; boundary=xyz", field % (b"csrf_token", csrf) + b"--xyz"),
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nContent-Type: multipart/mixed; boundary=abc\r\n"
            b"Content-Disposition: form-data; name=a\r\n\r\n"
            b"--abc\r\n\r\nx\r\n--abc--\r\n--xyz--\r\n",
        ),
        (
            "multipart/form-data; boundary=xyz",
            field % (b"csrf_token", csrf) + field % (b"action", b"\xff\xfe") + b"--xyz--\r\n",
        ),
        (
            "multipart/form-data; boundary=xyz",
            field
            % (b"csrf_token", csrf)
            + b'--xyz\r\nContent-Disposition: form-data; name="q.known.text"; filename="a.pdf"'
            b"\r\nContent-Type: application/pdf\r\n\r\n%PDF-\r\n--xyz--\r\n",
        ),
        ("text/plain", b"hello"),
        ("application/json", b"{}"),
    ]
    for content_type, body in bodies:
        async with agent.session.post(
            "/request", data=body, headers={"Content-Type": content_type}
        ) as response:
            assert response.status in (400, 403), (content_type, body[:40], response.status)
    assert await answers_for(world.ctx, created.id) == 0
    assert await state_of(world.ctx, created.id) == "opened"


# --- one answer, however many times it is sent ---------------------------------------------


@pytest.fixture
async def any_db_world(
    mail_stack: MailStack, tmp_path: Path, initialised_hub_dir: Path, db_url: str
) -> AsyncIterator[World]:
    opened = await open_world(
        mail_stack, tmp_path / "hub", db_url=db_url, template=initialised_hub_dir
    )
    try:
        yield opened
    finally:
        await opened.ctx.close()


@pytest.fixture
async def any_db_agent(any_db_world: World) -> AsyncIterator[Agent]:
    """A client of the hub serving ``any_db_world``."""
    app = build_app(any_db_world.ctx, keys.load(any_db_world.settings.hub.key_dir))
    running = await start_web(app, "127.0.0.1", 0)
    agent = Agent(running.url)
    try:
        yield agent
    finally:
        await agent.close()
        await running.stop()


async def test_the_same_answer_sent_fifty_times_at_once_is_stored_once(
    any_db_world: World, any_db_agent: Agent
) -> None:
    world, agent = any_db_world, any_db_agent
    created = await world.create(SCHOOL)
    status, html = await agent.sign_in(world, SCHOOL, created.token)
    assert status == 200 and "Lily Clarke" in html
    token = csrf_from(html)
    forms = []
    for _ in range(50):
        form = answer_form(files=(("a.pdf", PDF, "application/pdf"),))
        form.add_field(security.CSRF_FIELD, token)
        forms.append(form)

    async def send(form: aiohttp.FormData) -> tuple[int, str]:
        async with agent.session.post("/request", data=form) as response:
            return response.status, await response.text()

    results = await asyncio.gather(*(send(f) for f in forms))
    assert {status for status, _ in results} == {200}
    stored = [html for _, html in results if "Answer received" in html]
    already = [html for _, html in results if "already been answered" in html]
    assert len(stored) == 1 and len(already) == 49
    assert await answers_for(world.ctx, created.id) == 1
    assert (await outbox_kinds(world.ctx)).count("receipt") == 1
    assert await state_of(world.ctx, created.id) == "answered"


async def test_guesses_sent_all_at_once_still_get_five_tries_in_all(
    any_db_world: World, any_db_agent: Agent, request: pytest.FixtureRequest
) -> None:
    world, agent = any_db_world, any_db_agent
    created = await world.create(SCHOOL)
    await agent.get(f"/r/{created.token}")
    await agent.post(f"/r/{created.token}/code")
    code = await world.code(SCHOOL)
    token = csrf_from(agent.last)
    guesses = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 31)]

    async def guess(value: str) -> int:
        data = {security.CSRF_FIELD: token, "code": value}
        async with agent.session.post(f"/r/{created.token}/verify", data=data) as response:
            await response.read()
            return response.status

    statuses = await asyncio.gather(*(guess(g) for g in guesses))
    assert set(statuses) <= {200, 403}
    actions = await audit_actions(world.ctx)
    checked = actions.count("link.code.wrong") + actions.count("link.code.locked")
    assert checked <= world.settings.requests.code_tries, f"{checked} codes were tested"
    async with world.ctx.sessions() as s, s.begin():
        link = await s.scalar(select(RequestLink).where(RequestLink.request_id == created.id))
        assert link is not None and link.locked_at is not None
