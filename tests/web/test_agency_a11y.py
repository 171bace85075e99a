"""The agency pages in a real Chromium: axe-core finds no accessibility violations on any
of them (errors included), and they load under the strict Content-Security-Policy with
nothing blocked and no script errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mail_stack import MailStack
from tests.web.conftest import AXE, SCHOOL, LiveWorld, live_world

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def live(mail_stack: MailStack, tmp_path: Path, initialised_hub_dir: Path) -> Iterator[LiveWorld]:
    with live_world(mail_stack, tmp_path / "hub", initialised_hub_dir) as world:
        yield world


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document)).violations.map(v => ({
             id: v.id, impact: v.impact, help: v.help,
             targets: v.nodes.map(n => n.target.join(" ")) }))"""
    )


def walk(live: LiveWorld, page: Any, check: Any) -> None:
    """Every agency page, in the order an agency meets them; ``check(name)`` on each."""
    world = live.world
    created = live.run(world.create(SCHOOL))
    page.goto(f"{live.url}/r/{created.token}")
    check("landing")
    page.get_by_role("button", name="Send me a one-time code").click()
    page.wait_for_url(re.compile(r"/code$"))
    check("code entry")
    code = live.run(world.code(SCHOOL))
    page.get_by_label("Code").fill(f"{(int(code) + 1) % 10**6:06d}")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_selector(".govuk-error-summary")
    check("code entry, wrong code")
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/request$"))
    check("request")
    page.fill("#q1-last-contact-day", "31")
    page.fill("#q1-last-contact-month", "2")
    page.fill("#q1-last-contact-year", "2026")
    page.set_input_files(
        "#attachment",
        files=[{"name": "run-me.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}],
    )
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_selector(".govuk-error-summary")
    assert page.title().startswith("Error: ")
    check("request, with errors")
    for n in (1, 2, 3):
        page.check(f"#q{n}-known")
        page.fill(f"#q{n}-text", "Attends daily; no concerns this term.")
    page.fill("#q1-last-contact-day", "10")
    page.set_input_files(
        "#attachment",
        files=[{"name": "attendance.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_selector(".govuk-panel")
    check("confirmation")
    page.goto(f"{live.url}/request")
    check("already answered")
    page.context.clear_cookies()
    page.goto(f"{live.url}/request")
    check("session ended")
    page.goto(f"{live.url}/r/{created.token[:20]}")
    check("link cannot be used")
    page.get_by_role("button", name="Send a fresh link to our registered mailbox").click()
    page.wait_for_load_state()
    check("fresh link asked for")


def test_axe_finds_no_violations_on_any_agency_page(live: LiveWorld, browser: Any) -> None:
    context = browser.new_context(bypass_csp=True)  # so that axe-core can be injected
    page = context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        walk(live, page, lambda name: found.__setitem__(name, axe_violations(page)))
    finally:
        context.close()
    assert len(found) == 10
    assert {name: v for name, v in found.items() if v} == {}


def test_the_agency_pages_work_under_the_content_security_policy(
    live: LiveWorld, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(RECORD_CSP)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # A request cut off by the next navigation (a favicon, say) is not a failure.
    page.on(
        "requestfailed",
        lambda r: (
            r.failure != "net::ERR_ABORTED" and problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    seen: list[str] = []

    def check(name: str) -> None:
        seen.append(name)
        # GOV.UK Frontend's JavaScript ran (its module is allowed; nothing inline was).
        assert "govuk-frontend-supported" in page.evaluate("document.body.className"), name
        violations = page.evaluate("window.__cspViolations")
        assert violations == [], (name, violations)

    try:
        walk(live, page, check)
    finally:
        context.close()
    assert len(seen) == 10 and problems == []
