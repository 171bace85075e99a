"""The headers every response carries.

Applied in ``on_response_prepare`` (:mod:`hub.web.security.responses`) rather than a
middleware so that nothing escapes them: not a streamed response, not a raised
``HTTPException``, not a static file. The Content-Security-Policy allows only this origin
and no inline code; the one inline script of GOV.UK's page template (it adds
``js-enabled`` to ``<body>``) is allowed by its SHA-256 hash (CSP Level 3,
"hash-source"), never by ``'unsafe-inline'``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

# One year (RFC 6797). No includeSubDomains: the hub does not own its parent domain's
# other hosts, and pinning them to https is not its decision to make.
HSTS = "max-age=31536000"


def script_hash(source: str) -> str:
    """The CSP hash-source for an inline script's exact text."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """This origin only; no inline code except the scripts whose hashes are given."""
    script_src = " ".join(["'self'", *script_hashes])
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            f"script-src {script_src}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def is_https(public_url: str) -> bool:
    return public_url.lower().startswith("https://")


def security_headers(public_url: str, script_hashes: Iterable[str] = ()) -> dict[str, str]:
    """The headers every response carries."""
    headers = {
        "Content-Security-Policy": content_security_policy(script_hashes),
        "Referrer-Policy": "no-referrer",
        # Pages hold case data and capability links: never keep them in any cache.
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        # aiohttp would announce its and Python's versions; say only what this is.
        "Server": "marrac-hub",
    }
    if is_https(public_url):
        # RFC 6797: sent over http it would be ignored anyway, and would be a lie.
        headers["Strict-Transport-Security"] = HSTS
    return headers
