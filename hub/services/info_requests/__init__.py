"""Information requests to agencies without shared IT (MARRAC process step 7).

A co-ordinator asks an agency about named people; the agency gets a mail with no
personal data (reference, who asks, deadline, a secure link, the signature's
fingerprint) and answers through the link after proving it holds the registered
mailbox with a one-time code, or by replying to the mail. Answers are sealed on arrival
to the hub's X25519 public key: the code that receives them never needs the private key.
Every step is one transaction and is audited.

The package, by reason to change: :mod:`.directory` (the agency directory),
:mod:`.templates`, :mod:`.creation`, :mod:`.mails` (what the agency is sent),
:mod:`.capabilities` (link tokens, reply addresses, codes), :mod:`.signatures`,
:mod:`.answers`, :mod:`.views` (the staff's look), :mod:`.withdrawal` and
:mod:`.evidence`. This module re-exports the use cases the CLI, the web app and the other
services call.
"""

from __future__ import annotations

# ``rq`` stays reachable here for callers that name request events through this package.
from hub.domain import requests as rq
from hub.services.info_requests.answers import AnswerUnreadable, seal_answer, store_answer
from hub.services.info_requests.capabilities import LINK_PURPOSE, link_tokens, token_services
from hub.services.info_requests.creation import Created, create_request
from hub.services.info_requests.directory import list_agencies, sync_agencies
from hub.services.info_requests.errors import NotFound, RequestError
from hub.services.info_requests.evidence import evidence
from hub.services.info_requests.mails import link_url, local_time, reply_address, request_mails
from hub.services.info_requests.signatures import signature_fingerprint
from hub.services.info_requests.templates import Template, load_templates
from hub.services.info_requests.views import list_requests, show_request
from hub.services.info_requests.withdrawal import withdraw

__all__ = [
    "LINK_PURPOSE",
    "AnswerUnreadable",
    "Created",
    "NotFound",
    "RequestError",
    "Template",
    "create_request",
    "evidence",
    "link_tokens",
    "link_url",
    "list_agencies",
    "list_requests",
    "load_templates",
    "local_time",
    "reply_address",
    "request_mails",
    "rq",
    "seal_answer",
    "show_request",
    "signature_fingerprint",
    "store_answer",
    "sync_agencies",
    "token_services",
    "withdraw",
]
