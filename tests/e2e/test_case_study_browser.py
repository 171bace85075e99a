"""The case study, end to end, in headless Chromium.

PC Holt's referral (``01-case-study.eml``) arrives over SMTP in the hub's Dovecot mailbox;
intake makes the case; the co-ordinator asks the school, the GP and the health visitors.
Each request leaves through the outbox and the real SMTP front end for the agency's real
mailbox. The school and the health visitors answer in the browser: the link from their
mail, a one-time code from their mail, the people and the questions, the answers (the
school attaches its attendance report), the signed receipt. The GP replies to the email
instead. At the end the co-ordinator's view of each request holds its answer.

The hub's web app runs in a thread of its own with its own Context, as ``marrac-hub
serve`` would; the test makes its service calls through a second Context on the same
database (``tests.web.conftest.live_world``).
"""

from __future__ import annotations

import email.message
import re
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.runtime import drain, file_replies, make_reply_source
from hub.services import info_requests
from tests.support.mail_stack import MailStack
from tests.web.conftest import (
    CASE_NAMES,
    GP,
    HEALTH_VISITOR,
    MAILBOX,
    SCHOOL,
    LiveWorld,
    World,
    live_world,
)

PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
_LINK = re.compile(r"(https?://\S+/r/[A-Za-z0-9_-]{43})\b")


@pytest.fixture
def live(mail_stack: MailStack, tmp_path: Path, initialised_hub_dir: Path) -> Iterator[LiveWorld]:
    # The referral is delivered the way the police send it: over SMTP, into Dovecot.
    with live_world(
        mail_stack, tmp_path / "hub", initialised_hub_dir, referral_over_smtp=True
    ) as world:
        yield world


def request_link(world: World, slug: str, ref: str) -> str:
    mails = world.mails(slug, ref)
    assert len(mails) == 1, f"{slug}: {len(mails)} request mails"
    body = mails[0].get_content()
    for name in CASE_NAMES:
        assert name not in body, f"the request mail names {name}"
    found = _LINK.search(body)
    assert found is not None, "no link in the request mail"
    return found.group(1)


def answer_in_the_browser(
    live: LiveWorld,
    browser: Any,
    slug: str,
    created: info_requests.Created,
    people: tuple[str, ...],
    attachment: dict[str, Any] | None,
) -> dict[str, str]:
    """Follow the agency's link from its mailbox to the signed receipt; return what the
    receipt page shows."""
    world = live.world
    link = request_link(world, slug, created.ref)
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    try:
        # The landing page: what the email said, the signature to check, nothing more.
        response = page.goto(link)
        assert response is not None and response.status == 200
        text = page.inner_text("main")
        assert created.ref in text and "Signature fingerprint" in text
        for name in CASE_NAMES:
            assert name not in page.content()
        page.get_by_role("button", name="Send me a one-time code").click()
        page.wait_for_url(re.compile(r"/r/[^/]+/code$"))
        assert page.inner_text("h1") == "Check your email"

        # The code arrives in the agency's mailbox, as a second mail.
        code = live.run(world.code(slug))
        assert len(world.mails(slug)) == 2
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(r"/request$"))
        assert link.rsplit("/", 1)[-1] not in page.url  # the token has left the address bar

        # The people and the questions.
        main = page.inner_text("main")
        for person in people:
            assert person in main
        assert "Why we can ask" in main
        questions = page.locator(
            "form[enctype='multipart/form-data'] legend.govuk-fieldset__legend--m"
        )
        count = questions.count()
        assert count >= 2
        for n in range(1, count + 1):
            page.check(f"#q{n}-known")
            page.fill(f"#q{n}-text", f"Answer {n} from {slug}: <b>seen this week</b>")
        page.fill("#q1-last-contact-day", "10")
        page.fill("#q1-last-contact-month", "3")
        page.fill("#q1-last-contact-year", "2026")
        if attachment:
            page.set_input_files("#attachment", files=[attachment])
        page.get_by_role("button", name="Send answers").click()
        page.wait_for_selector(".govuk-panel")

        # The signed receipt.
        assert page.inner_text(".govuk-panel__title") == "Answer received"
        rows = {
            page.locator(".govuk-summary-list__key").nth(i).inner_text(): page.locator(
                ".govuk-summary-list__value"
            )
            .nth(i)
            .inner_text()
            for i in range(7)
        }
        assert rows["Reference"] == created.ref
        assert re.fullmatch(r"[0-9a-f]{64}", rows["Answer fingerprint (SHA-256)"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{86}", rows["Signature"])
        assert "emailed a copy of this receipt" in page.inner_text("main")
        assert "&lt;b&gt;seen this week&lt;/b&gt;" in page.content()
        assert problems == []
        return rows
    finally:
        context.close()


def reply_by_email(live: LiveWorld, created: info_requests.Created) -> None:
    world = live.world
    original = world.mails(GP, created.ref)[0]
    reply = email.message.EmailMessage()
    reply["From"] = MAILBOX[GP]
    reply["To"] = original["Reply-To"]
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Message-ID"] = "<reply-case-study@gp.hub.test>"
    reply["In-Reply-To"] = original["Message-ID"]
    reply.set_content(
        "Emma Clarke seen 02/03/2026 with anxiety; next appointment Friday 10:40.\n"
        "Daniel Hughes is not registered with us.\n"
    )
    with smtplib.SMTP("127.0.0.1", world.stack.smtp.port, timeout=10) as smtp:
        smtp.send_message(reply, to_addrs=[str(original["Reply-To"])])

    async def drain_replies() -> int:
        source = make_reply_source(world.settings)
        assert source is not None
        try:
            report = await drain(world.ctx, source, record=file_replies)
        finally:
            await source.close()
        return report.total

    assert live.run(drain_replies()) == 1


def test_the_case_study_from_referral_to_three_answers(live: LiveWorld, browser: Any) -> None:
    world = live.world
    assert world.case_ref.startswith("MR-")

    school = live.run(world.create(SCHOOL))
    gp = live.run(world.create(GP))
    health_visitor = live.run(world.create(HEALTH_VISITOR))
    assert live.run(world.deliver()) >= 3  # and intake's acknowledgement and alert

    school_receipt = answer_in_the_browser(
        live,
        browser,
        SCHOOL,
        school,
        ("Lily Clarke", "Noah Clarke"),
        {"name": "attendance-spring-term.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    answer_in_the_browser(
        live, browser, HEALTH_VISITOR, health_visitor, ("Emma Clarke", "Noah Clarke"), None
    )
    reply_by_email(live, gp)

    shown = {
        slug: live.run(info_requests.show_request(world.ctx, created.ref, "cc@hub.test"))
        for slug, created in ((SCHOOL, school), (GP, gp), (HEALTH_VISITOR, health_visitor))
    }
    assert shown[SCHOOL]["status"] == "answered"
    assert shown[HEALTH_VISITOR]["status"] == "answered"
    assert shown[GP]["status"] == "answered-by-email"
    for slug in (SCHOOL, HEALTH_VISITOR, GP):
        assert len(shown[slug]["answers"]) == 1, slug
    school_answer = shown[SCHOOL]["answers"][0]["content"]
    assert school_answer["answers"][0]["known"] is True
    assert school_answer["answers"][0]["last_contact"] == "2026-03-10"
    assert school_answer["answers"][0]["text"].endswith("<b>seen this week</b>")
    assert [
        (a["filename"], a["content_type"], a["size"]) for a in school_answer["attachments"]
    ] == [("attendance-spring-term.pdf", "application/pdf", len(PDF))]
    assert shown[HEALTH_VISITOR]["answers"][0]["content"]["attachments"] == []
    assert "next appointment Friday" in shown[GP]["answers"][0]["content"]["text"]

    # The receipt went to the school's registered mailbox too, signed as the page showed.
    live.run(world.deliver())
    receipts = world.mails(SCHOOL, "Receipt for your answer")
    assert len(receipts) == 1
    attached = next(receipts[0].iter_attachments())
    assert school_receipt["Signature"] in attached.get_content().decode()
