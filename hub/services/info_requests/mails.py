"""The mail an agency gets for a request: no personal data, only what lets it answer
safely (the reference, who asks, the deadline, the secure link, the signature's
fingerprint and a reply address that files its reply on the request)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from hub.crypto.boxes import seal_to
from hub.crypto.signing import canonicalize
from hub.domain.calendar import readable_time
from hub.domain.notices import Notice
from hub.services import outbox
from hub.services.context import Context
from hub.services.info_requests.capabilities import link_tokens
from hub.store.models import Agency, InfoRequest

# A Notice attachment: (file name, content type, bytes).
Attachment = tuple[str, str, bytes]


def local_time(at: datetime, ctx: Context) -> str:
    """``at`` as people read it in mail and on the agency's pages, in the hub's zone."""
    return readable_time(at, ctx.settings.hub.timezone)


def urgent_mark(request: InfoRequest) -> str:
    """What a subject starts with when the request is urgent ("URGENT: "), else ""."""
    return "URGENT: " if request.urgency == "urgent" else ""


def link_url(ctx: Context, token: str) -> str:
    """The secure link for a request's token, on the hub's public address."""
    return f"{ctx.settings.hub.public_url.rstrip('/')}/r/{token}"


def reply_address(ctx: Context, request_id: int) -> str:
    """The address whose reply is filed on request ``request_id`` (its MAC proves the
    hub issued it)."""
    local, _, domain = ctx.settings.replies.address.partition("@")
    return link_tokens(ctx).reply_address(local, domain, request_id)


def request_mails(
    ctx: Context,
    request: InfoRequest,
    agency: Agency,
    case_ref: str,
    token: str,
    envelope: dict[str, Any],
    *,
    reminder: str = "",
) -> list[Notice]:
    """The mail an agency gets, one to each of its registered mailboxes."""
    assert request.ref is not None
    body = _request_body(ctx, request, agency, token, reminder)
    attachments = _sealed_document(request.ref, agency, envelope)
    return [
        Notice(
            kind="request",
            recipient=address,
            subject=f"{urgent_mark(request)}MARRAC information request {request.ref}: "
            f"reply by {local_time(request.due_at, ctx)}",
            body=body,
            dedupe_key=f"request:{request.id}:{token[:8]}:{outbox.recipient_tag(ctx, address)}",
            subject_ref=case_ref,
            reply_to=reply_address(ctx, request.id),
            attachments=attachments,
        )
        for address in agency.emails
    ]


def _request_body(
    ctx: Context, request: InfoRequest, agency: Agency, token: str, reminder: str
) -> str:
    public_url = ctx.settings.hub.public_url.rstrip("/")
    lines = [
        f"Dear colleague at {agency.name},",
        "",
        (reminder + "\n") if reminder else "",
        f"The MARRAC team asks for information for request {request.ref}.",
        f"Please answer by {local_time(request.due_at, ctx)}.",
        "",
        "Open the request here (you will be sent a one-time code at this mailbox):",
        link_url(ctx, token),
        "",
        "Or reply to this email: your reply is filed on the request.",
        "",
        f"Lawful basis: {request.lawful_basis}",
        f"Signed by marrac-hub key {request.signature_kid}; signature fingerprint "
        f"{request.signature_digest}.",
        f"Public keys: {public_url}/.well-known/marrac-hub/keys.json",
        "If in doubt, call the MARRAC team and check the fingerprint before opening the link.",
    ]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


def _sealed_document(ref: str, agency: Agency, envelope: dict[str, Any]) -> tuple[Attachment, ...]:
    """The signed request itself, sealed to the agency's own box key when it has one, so
    that only the agency can read it."""
    if not agency.box_public_key:
        return ()
    sealed = seal_to(base64.b64decode(agency.box_public_key), canonicalize(envelope))
    return ((f"{ref}.json.sealed", "application/octet-stream", sealed),)
