"""Secure links: what an agency worker holding a request link may see and do.

The link token alone shows only what is on the mail already (reference, agency, deadline,
signature fingerprint) and a button to send a one-time code to the agency's registered
mailbox. The code, once proved, is exchanged for a session; only then are the people and
questions in scope shown. Unknown, expired and revoked tokens are indistinguishable to
the holder: one answer, one amount of work. Every attempt on a link that works is
audited; attempts with unusable tokens are counted per minute (they read nothing).

The package, by reason to change: :mod:`.access` (token lookup, the link's state, grants,
the audit of every attempt), :mod:`.landing` (what a link shows), :mod:`.codes`,
:mod:`.submission` (answers and receipts) and :mod:`.renewal` (fresh links: renewal by
the holder, reissue by the co-ordinator). The web layer and the CLI call the names
re-exported here.
"""

from __future__ import annotations

from hub.services.info_requests.mails import link_url
from hub.services.links.access import AGENCY_ACTOR, Grant
from hub.services.links.codes import CodeResult, send_code, verify_code
from hub.services.links.landing import UNUSABLE, Landing, landing, view
from hub.services.links.renewal import reissue, renew
from hub.services.links.submission import Submission, submit

__all__ = [
    "AGENCY_ACTOR",
    "UNUSABLE",
    "CodeResult",
    "Grant",
    "Landing",
    "Submission",
    "landing",
    "link_url",
    "reissue",
    "renew",
    "send_code",
    "submit",
    "verify_code",
    "view",
]
