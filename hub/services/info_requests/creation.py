"""Creating a request: choose its template, people and questions, set its deadline, sign
it, mint its link and queue its mail, all in one transaction (MARRAC process step 7)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.crypto.signing import canonicalize
from hub.domain import requests as rq
from hub.domain.deadlines import agency_due, next_action_at, request_due, steps_for_request
from hub.domain.policy import Duration
from hub.domain.request_scope import (
    LawfulBasis,
    Question,
    RequestScope,
    ScopeError,
    person_in_scope,
    questions_asked,
    select_people,
)
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.info_requests.capabilities import link_tokens
from hub.services.info_requests.errors import NotFound, RequestError
from hub.services.info_requests.mails import request_mails
from hub.services.info_requests.signatures import sign, signature_fingerprint
from hub.services.info_requests.templates import Template, load_templates, pick_template
from hub.store.models import Agency, Case, InfoRequest, Person, RequestLink

log = logging.getLogger("hub.requests")

URGENCIES = ("urgent", "standard")


@dataclass(frozen=True)
class Created:
    """A request created and queued for sending."""

    id: int
    ref: str
    due_at: datetime
    # Handed back for tests and the web app's own flows; the CLI never prints it.
    token: str


async def create_request(
    ctx: Context,
    *,
    case_ref: str,
    agency_slug: str,
    actor: str,
    authorised_by: str | None = None,
    template: str | None = None,
    persons: list[str] | None = None,
    questions: list[str] | None = None,
    due_at: datetime | None = None,
    within: Duration | timedelta | None = None,
    urgency: str = "standard",
    lawful_basis: str | None = None,
) -> Created:
    """Create, sign and queue one request, in one transaction."""
    if urgency not in URGENCIES:
        raise RequestError("urgency must be urgent or standard")
    assert ctx.ring is not None
    now = ctx.clock.now()
    templates = load_templates(ctx.settings.requests.templates_dir)
    async with ctx.sessions() as session, session.begin():
        case, agency = await _case_and_agency(session, case_ref, agency_slug)
        chosen = pick_template(templates, template, agency.type)
        asked = questions_asked(chosen.questions, questions)
        scope = await _scope(session, ctx, case, persons, chosen)
        due, due_rule = _deadline(ctx, now, agency, urgency, due_at, within)
        basis = LawfulBasis(lawful_basis) if lawful_basis else LawfulBasis()
        request = _draft(case, agency, chosen, basis, urgency, now, due, due_rule)
        request.requested_by, request.authorised_by = actor, authorised_by or actor
        session.add(request)
        await session.flush()
        request.ref = rq.request_reference(now.year, request.id)
        envelope = _sign(ctx, request, case_ref, agency, basis, scope, asked, now)
        token = await _send(session, ctx, request, agency, case_ref, envelope, now)
        await _audit_created(session, now, actor, request, case_ref, agency, scope, len(asked))
    log.info(
        "event=request.created ref=%s agency=%s persons=%d",
        request.ref,
        agency.slug,
        len(scope.persons),
    )
    return Created(request.id, request.ref, due, token)


async def _audit_created(
    session: AsyncSession,
    now: datetime,
    actor: str,
    request: InfoRequest,
    case_ref: str,
    agency: Agency,
    scope: RequestScope,
    questions: int,
) -> None:
    """The audit event of a new request: how many people and questions, never who."""
    assert request.ref is not None
    await audit.record(
        session,
        at=now,
        actor=actor,
        action="request.create",
        object_ref=request.ref,
        detail={
            "case": case_ref,
            "agency": agency.slug,
            "persons": len(scope.persons),
            "questions": questions,
        },
    )


async def _case_and_agency(
    session: AsyncSession, case_ref: str, agency_slug: str
) -> tuple[Case, Agency]:
    case = await session.scalar(select(Case).where(Case.ref == case_ref))
    if case is None:
        raise NotFound(f"no case {case_ref}")
    if case.closed_at is not None:
        raise RequestError(f"case {case_ref} is closed: no new requests on a closed case")
    agency = await session.scalar(
        select(Agency).where(Agency.slug == agency_slug, Agency.active.is_(True))
    )
    if agency is None:
        raise NotFound(f"no active agency {agency_slug!r} (run `agencies sync`?)")
    return case, agency


async def _scope(
    session: AsyncSession,
    ctx: Context,
    case: Case,
    persons: Sequence[str] | None,
    template: Template,
) -> RequestScope:
    """The people asked about, each with only the fields the template shares."""
    query = select(Person).where(Person.case_id == case.id).order_by(Person.ordinal)
    rows = (await session.scalars(query)).all()
    people = [(p.role, p.ordinal, ctx.sealer.open_json(p.sealed)) for p in rows]
    try:
        selected = select_people(people, persons, template.roles)
    except ScopeError as exc:
        raise RequestError(str(exc)) from None
    return RequestScope(
        tuple(person_in_scope(role, record, template.fields) for role, record in selected)
    )


def _draft(
    case: Case,
    agency: Agency,
    template: Template,
    basis: LawfulBasis,
    urgency: str,
    now: datetime,
    due: datetime,
    due_rule: str,
) -> InfoRequest:
    """The request before it is signed and sent (its document and signature come next)."""
    return InfoRequest(
        case_id=case.id,
        agency_id=agency.id,
        state=rq.RequestState.DRAFT.value,
        urgency=urgency,
        template=template.name,
        lawful_basis=basis.text,
        document_sealed=b"",
        signature_kid="",
        signature_digest="",
        created_at=now,
        due_at=due,
        due_rule=due_rule,
    )


def _deadline(
    ctx: Context,
    now: datetime,
    agency: Agency,
    urgency: str,
    due_at: datetime | None,
    within: Duration | timedelta | None,
) -> tuple[datetime, str]:
    """The due time and the rule that set it: an explicit time > the agency's own
    response time (standard requests) > the policy's default for the urgency (working
    days or hours). Every one but an exact ``due_at`` falls in the agency's working
    hours (:func:`agency_due`): an agency's ``response_hours`` no longer put deadlines
    on a Saturday or at 04:03."""
    if isinstance(within, timedelta):
        within = Duration(int(within.total_seconds() // 3600), "h")
    if due_at is not None:
        due, rule = due_at, "explicit"
    elif within is not None:
        due, rule = agency_due(now, within, ctx.calendar), "explicit"
    elif agency.response_hours and urgency == "standard":
        due = agency_due(now, Duration(agency.response_hours, "h"), ctx.calendar)
        rule = "agency"
    else:
        due, rule = request_due(now, urgency, ctx.policy, ctx.calendar), "policy"
    if due <= now:
        raise RequestError("the deadline must be in the future")
    return due, rule


def _sign(
    ctx: Context,
    request: InfoRequest,
    case_ref: str,
    agency: Agency,
    basis: LawfulBasis,
    scope: RequestScope,
    asked: list[Question],
    now: datetime,
) -> dict[str, Any]:
    """Sign the request's document and keep it sealed on the request; returns the
    signed envelope."""
    assert request.ref is not None
    document = rq.request_document(
        reference=request.ref,
        case_ref=case_ref,
        agency=agency.slug,
        requester=request.requested_by,
        lawful_basis=basis,
        authorised_by=request.authorised_by,
        due_at=request.due_at,
        scope=scope,
        questions=asked,
        issued_at=now,
    )
    envelope = sign(ctx, document)
    request.document_sealed = ctx.sealer.seal(canonicalize(envelope))
    request.signature_kid = envelope["signature"]["kid"]
    request.signature_digest = signature_fingerprint(envelope)
    return envelope


async def _send(
    session: AsyncSession,
    ctx: Context,
    request: InfoRequest,
    agency: Agency,
    case_ref: str,
    envelope: dict[str, Any],
    now: datetime,
) -> str:
    """Mint the request's link, mark it sent, plan its chasing and queue its mail;
    returns the link token."""
    token, token_hash = link_tokens(ctx).new_link_token()
    session.add(
        RequestLink(
            request_id=request.id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + timedelta(days=ctx.settings.requests.link_days),
        )
    )
    request.state = rq.transition(request.state, rq.RequestEvent.SEND).value
    request.sent_at = now
    request.next_action_at = next_action_at(
        steps_for_request(
            request.due_at, ctx.policy, ctx.calendar, urgency=request.urgency, issued_at=now
        ),
        set(),
    )
    for notice in request_mails(ctx, request, agency, case_ref, token, envelope):
        await outbox.enqueue(session, ctx, notice)
    return token
