"""The agency's pages: a request link, the one-time code, the request, the answer.

Routes
    ``GET  /r/{token}``        landing: reference, agency, deadline, signature; never
                               changes anything (mail scanners fetch links before people do)
    ``POST /r/{token}``        "send a fresh link to our registered mailbox" (from the page
                               shown for a link that cannot be used)
    ``POST /r/{token}/code``   mail a one-time code to the registered mailbox, then 303 to
    ``GET  /r/{token}/code``   the code entry form
    ``POST /r/{token}/verify`` check the code: a fresh session, then 303 to
    ``GET  /request``          the people, the questions and the answer forms (session only:
                               the token is no longer in the address)
    ``POST /request``          the answer (multipart, with attachments), "no information
                               held", or a refusal with its reason

Nothing about the people is shown before the code is proved. Unknown, truncated, expired
and revoked links all get one page, byte for byte, with one status: the page does not
even echo the token (its form posts to the page's own address). The session holds the
request and link ids and the CSRF token, never personal data.

Modules, by reason to change
    ``handlers``  HTTP in, one service call, a page out
    ``uploads``   reading forms off the wire under caps (multipart streaming)
    ``forms``     the answer form to the domain's values, its problems to GOV.UK words
    ``views``     the pages; ``formats`` how dates, sizes and file types read on them
What makes an answer or a file acceptable is the domain's (:mod:`hub.domain.answers`,
:mod:`hub.domain.uploads`).
"""

from __future__ import annotations

from aiohttp import web

from hub.domain.uploads import DOCX
from hub.web.agency import handlers
from hub.web.agency.uploads import body_cap

__all__ = ["DOCX", "add_routes", "body_cap"]


def add_routes(app: web.Application) -> None:
    """The agency pages (called by :func:`hub.web.app.build_app`)."""
    app.router.add_get("/r/{token}", handlers.landing, name="agency-landing")
    app.router.add_post("/r/{token}", handlers.renew, name="agency-renew")
    app.router.add_get("/r/{token}/code", handlers.code_form, name="agency-code-form")
    app.router.add_post("/r/{token}/code", handlers.send_code, name="agency-send-code")
    app.router.add_post("/r/{token}/verify", handlers.verify, name="agency-verify")
    app.router.add_get("/request", handlers.request_page, name="agency-request")
    app.router.add_post("/request", handlers.answer, name="agency-answer")
