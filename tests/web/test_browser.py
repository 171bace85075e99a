"""A real Chromium against the hub: GOV.UK Frontend's styles and scripts load under the
strict Content-Security-Policy, nothing is blocked or broken, and axe-core finds no
accessibility violations on a sample form page and on the error page.

The sample page is a test-only route added to the app here, not part of the hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from hub.web import pages, security
from tests.web.conftest import AXE, Configure, LiveHub, add_templates

SAMPLE = """{% extends "base.html" %}
{% from "govuk_frontend_jinja/components/input/macro.html" import govukInput %}
{% from "govuk_frontend_jinja/components/button/macro.html" import govukButton %}
{% from "govuk_frontend_jinja/components/details/macro.html" import govukDetails %}
{% block pageTitle %}Enter your code – {{ serviceName }}{% endblock %}
{% block content %}
<div class="govuk-grid-row">
  <div class="govuk-grid-column-two-thirds">
    <form method="post" novalidate>
      {{ csrf_field() }}
      {{ govukInput({
        "label": {"text": "Enter the code we emailed you", "isPageHeading": true,
                  "classes": "govuk-label--l"},
        "hint": {"text": "It is 6 digits, like 123 456"},
        "classes": "govuk-input--width-10",
        "id": "code", "name": "code", "inputmode": "numeric",
        "autocomplete": "one-time-code", "spellcheck": false
      }) }}
      {{ govukDetails({"summaryText": "I have not got a code",
                       "text": "Codes take a few minutes to arrive."}) }}
      {{ govukButton({"text": "Continue"}) }}
    </form>
  </div>
</div>
{% endblock %}"""

# Records every Content-Security-Policy violation the page reports, before any of its
# own code runs (an init script is not subject to the page's policy).
RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def add_sample_page(app: web.Application) -> None:
    add_templates(app, {"sample.html": SAMPLE})

    async def sample(request: web.Request) -> web.Response:
        return pages.render(request, "sample.html")

    async def answer(request: web.Request) -> web.Response:
        security.require_csrf(request, await request.post())
        return web.Response(text="accepted")

    async def inline(request: web.Request) -> web.Response:
        html = pages.render(request, "sample.html").text or ""
        html = html.replace("</main>", "<script>window.ranInline = true</script></main>")
        html = html.replace("</head>", "<style>body { color: red }</style></head>")
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/test/sample", sample)
    app.router.add_post("/test/sample", answer)
    app.router.add_get("/test/inline", inline)


@pytest.fixture(scope="module")
def live_routes() -> Configure:
    return add_sample_page


class Watch:
    """Everything that went wrong on a page: console errors, uncaught exceptions,
    failed or refused requests, and CSP violations."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.responses: dict[str, int] = {}
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", self._response)
        page.add_init_script(RECORD_CSP)

    def _console(self, message: Any) -> None:
        if message.type not in ("error", "warning"):
            return
        url = message.location.get("url")
        if url == self.page.url and self.responses.get(url, 200) >= 400:
            return  # the error page's own status (404, 403): expected, checked by the test
        self.problems.append(f"console {message.type}: {message.text} ({url})")

    def _response(self, response: Any) -> None:
        self.responses[response.url] = response.status
        if response.status >= 400 and not response.request.is_navigation_request():
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def all_problems(self) -> list[str]:
        violations = self.page.evaluate("window.__cspViolations")
        return self.problems + [f"CSP violation: {v}" for v in violations]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context with the real Content-Security-Policy enforced."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def axe_page(browser: Any) -> Iterator[Any]:
    """A page whose context bypasses the CSP, so axe-core can be injected."""
    context = browser.new_context(bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => (await axe.run(document)).violations.map(v => ({
             id: v.id, impact: v.impact, help: v.help,
             targets: v.nodes.map(n => n.target.join(" ")) }))"""
    )


def test_the_sample_page_loads_styled_scripted_and_without_errors(
    live_hub: LiveHub, page: Any
) -> None:
    watch = Watch(page)
    response = page.goto(f"{live_hub.url}/test/sample", wait_until="load")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]

    # GOV.UK Frontend's stylesheet and font arrived and apply.
    assert watch.responses[f"{live_hub.url}/static/govuk/govuk-frontend.min.css"] == 200
    page.evaluate("document.fonts.ready.then(() => true)")
    font = page.evaluate("getComputedStyle(document.querySelector('h1 label')).fontFamily")
    assert "GDS Transport" in font
    assert page.evaluate("document.fonts.check('700 16px \"GDS Transport\"')")
    # The inline js-enabled script ran (its hash is in the policy) ...
    body_classes = page.evaluate("document.body.className")
    assert "js-enabled" in body_classes and "govuk-frontend-supported" in body_classes
    # ... and so did GOV.UK's module, started by /static/hub/init.js.
    page.wait_for_selector("[data-govuk-button-init]", state="attached", timeout=5000)

    assert watch.all_problems() == []


def test_the_policy_blocks_inline_code_and_the_watch_sees_it(live_hub: LiveHub, page: Any) -> None:
    # The negative twin of the test above: proves the policy bites and the watch notices.
    watch = Watch(page)
    page.goto(f"{live_hub.url}/test/inline", wait_until="load")
    assert page.evaluate("window.ranInline") is None
    problems = " ".join(watch.all_problems())
    assert "CSP violation: script-src-elem inline" in problems
    assert "CSP violation: style-src-elem inline" in problems


def test_a_form_posted_from_the_page_passes_the_csrf_check(live_hub: LiveHub, page: Any) -> None:
    watch = Watch(page)
    page.goto(f"{live_hub.url}/test/sample")
    page.fill("#code", "123456")
    page.click("button.govuk-button")
    page.wait_for_load_state()
    assert page.text_content("body") == "accepted"
    assert watch.all_problems() == []


def test_the_error_page_loads_without_errors(live_hub: LiveHub, page: Any) -> None:
    watch = Watch(page)
    response = page.goto(f"{live_hub.url}/no/such/page", wait_until="load")
    assert response is not None and response.status == 404
    assert page.text_content("h1") == "Page not found"
    assert page.title() == "Page not found – MARRAC information requests"
    assert watch.all_problems() == []


@pytest.mark.parametrize("path", ["/test/sample", "/no/such/page"])
def test_axe_finds_no_accessibility_violations(live_hub: LiveHub, axe_page: Any, path: str) -> None:
    axe_page.goto(f"{live_hub.url}{path}", wait_until="load")
    assert axe_violations(axe_page) == []
