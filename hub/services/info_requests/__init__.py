"""Information requests to agencies without shared IT (MARRAC process step 7).

A co-ordinator asks an agency about named people; the agency gets a mail with no
personal data (reference, who asks, deadline, a secure link, the signature's
fingerprint) and answers through the link after proving it holds the registered
mailbox with a one-time code, or by replying to the mail. Answers are sealed on arrival
to the hub's X25519 public key: the code that receives them never needs the private key.
Every step is one transaction and is audited.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hub.crypto.signing import canonicalize, key_id, sign_document
from hub.crypto.tokens import TokenService
from hub.domain import requests as rq
from hub.domain.deadlines import next_action_at, request_due, steps_for_request
from hub.domain.notices import Notice
from hub.domain.referral import Role
from hub.services import audit, outbox
from hub.services.context import Context
from hub.services.recipients import staff
from hub.services.timefmt import iso_z
from hub.store.models import Agency, Answer, Case, InfoRequest, Person, RequestLink

log = logging.getLogger("hub.requests")

LINK_PURPOSE = "request-link"
AGENCY_TYPES = (
    "school",
    "gp",
    "health-visitor",
    "school-nurse",
    "housing",
    "csc",
    "asc",
    "probation",
    "mental-health",
    "substance-misuse",
    "idva",
    "citizens-advice",
    "other",
)


class RequestError(Exception):
    """A request cannot be created or changed as asked (the message says why)."""


class NotFound(RequestError):
    """No such case, agency or request."""


# --- the agency directory and templates ------------------------------------------------


async def sync_agencies(ctx: Context, path: Path, actor: str) -> dict[str, int]:
    """Load ``agencies.toml`` into the database: add, update, and mark missing ones
    inactive (never delete: their requests stay on record)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RequestError(f"cannot read the agency directory {path}: {exc}") from None
    entries = raw.get("agency", [])
    seen: set[str] = set()
    now = ctx.clock.now()
    counts = {"added": 0, "updated": 0, "deactivated": 0}
    async with ctx.sessions() as session, session.begin():
        existing = {a.slug: a for a in (await session.scalars(select(Agency))).all()}
        for n, entry in enumerate(entries, start=1):
            values = _agency_values(entry, n)
            if values["slug"] in seen:
                raise RequestError(f"agency #{n}: slug {values['slug']!r} appears twice")
            seen.add(values["slug"])
            agency = existing.get(values["slug"])
            if agency is None:
                session.add(Agency(**values, active=True, updated_at=now))
                counts["added"] += 1
            else:
                for k, v in values.items():
                    setattr(agency, k, v)
                agency.active = True
                agency.updated_at = now
                counts["updated"] += 1
        for slug, agency in existing.items():
            if slug not in seen and agency.active:
                agency.active = False
                agency.updated_at = now
                counts["deactivated"] += 1
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="agencies.sync",
            object_ref="agencies",
            detail=counts,
        )
    return counts


def _agency_values(entry: Any, n: int) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise RequestError(f"agency #{n} is not a table")
    known = {
        "slug",
        "name",
        "type",
        "emails",
        "shares_systems",
        "response_hours",
        "box_public_key",
        "verify_key",
    }
    unknown = set(entry) - known
    if unknown:
        raise RequestError(f"agency #{n} has unknown key(s): {', '.join(sorted(unknown))}")
    slug = entry.get("slug", "")
    if not isinstance(slug, str) or not rq._SLUG.fullmatch(slug):
        raise RequestError(f"agency #{n}: slug must be lower-case letters, digits and dashes")
    emails = entry.get("emails", [])
    if not emails or not all(isinstance(e, str) and "@" in e for e in emails):
        raise RequestError(f"agency {slug}: emails must list at least one address")
    kind = entry.get("type", "other")
    if kind not in AGENCY_TYPES:
        raise RequestError(f"agency {slug}: type must be one of {', '.join(AGENCY_TYPES)}")
    for key_name in ("box_public_key", "verify_key"):
        value = entry.get(key_name)
        if value is not None:
            try:
                if len(base64.b64decode(value, validate=True)) != 32:
                    raise ValueError
            except ValueError:
                raise RequestError(
                    f"agency {slug}: {key_name} must be 32 bytes of base64"
                ) from None
    hours = entry.get("response_hours", 0)  # 0: the policy's default for the urgency
    if not isinstance(hours, int) or not 0 <= hours <= 24 * 60:
        raise RequestError(f"agency {slug}: response_hours must be a whole number of hours")
    return {
        "slug": slug,
        "name": str(entry.get("name") or slug),
        "type": kind,
        "emails": [e.strip().lower() for e in emails],
        "shares_systems": bool(entry.get("shares_systems", False)),
        "response_hours": hours,
        "box_public_key": entry.get("box_public_key"),
        "verify_key": entry.get("verify_key"),
    }


@dataclass(frozen=True)
class Template:
    name: str
    agency_types: tuple[str, ...]
    fields: tuple[str, ...]
    roles: tuple[str, ...]
    questions: tuple[rq.Question, ...]


def load_templates(directory: Path | None) -> dict[str, Template]:
    """Request templates (``config/request-templates/*.toml``), editable without code:
    read again whenever a file in the folder changes (cached on names and mtimes)."""
    if directory is None or not directory.is_dir():
        return {}
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(directory.glob("*.toml")))
    return _read_templates(directory, stamp)


@functools.lru_cache(maxsize=8)
def _read_templates(directory: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, Template]:
    templates: dict[str, Template] = {}
    for path in sorted(directory.glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        name = str(raw.get("name") or path.stem)
        questions = tuple(
            rq.Question(id=str(q["id"]), text=str(q["text"])) for q in raw.get("question", [])
        )
        templates[name] = Template(
            name=name,
            agency_types=tuple(raw.get("agency_types", [])),
            fields=tuple(raw.get("fields", [])),
            roles=tuple(raw.get("roles", ["victim", "perpetrator", "child"])),
            questions=questions,
        )
    return templates


def _pick_template(templates: dict[str, Template], name: str | None, agency_type: str) -> Template:
    if name:
        if name not in templates:
            raise RequestError(f"no request template {name!r} (have: {', '.join(templates)})")
        return templates[name]
    for template in templates.values():
        if agency_type in template.agency_types:
            return template
    if "general" in templates:
        return templates["general"]
    raise RequestError("no template fits this agency: give --template and --question")


# --- creating and sending -------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    id: int
    ref: str
    due_at: datetime
    # Handed back for tests and the web app's own flows; the CLI never prints it.
    token: str


def _tokens(ctx: Context) -> TokenService:
    """Capabilities are minted under the active token key."""
    assert ctx.ring is not None
    return TokenService.from_ring(ctx.ring, LINK_PURPOSE)


def token_services(ctx: Context) -> list[TokenService]:
    """Every token key, the active one first: links, reply addresses and codes issued
    before a key rotation keep working until they expire."""
    assert ctx.ring is not None
    active = ctx.ring.active["token"]
    keys = sorted(ctx.ring.keys["token"].values(), key=lambda k: k.fingerprint != active)
    return [TokenService(k.secret, LINK_PURPOSE) for k in keys]


def _local(at: datetime, ctx: Context) -> str:
    return at.astimezone(ZoneInfo(ctx.settings.hub.timezone)).strftime("%A %d %B %Y, %H:%M")


def _select_people(
    people: list[tuple[str, int, dict[str, Any]]],
    selectors: list[str] | None,
    roles: tuple[str, ...],
) -> list[tuple[str, dict[str, Any]]]:
    """``victim``, ``perpetrator``, ``child`` (all children) or ``child:N`` (1-based)."""
    chosen: list[tuple[str, dict[str, Any]]] = []
    children = [p for p in people if p[0] == Role.CHILD.value]
    wanted = selectors or list(roles)
    for selector in wanted:
        role, _, number = selector.partition(":")
        if role == Role.CHILD.value and number:
            if not number.isdigit() or not 1 <= int(number) <= len(children):
                raise RequestError(f"no {selector} on this case ({len(children)} children)")
            candidates = [children[int(number) - 1]]
        elif role in (Role.VICTIM.value, Role.PERPETRATOR.value, Role.CHILD.value):
            candidates = [p for p in people if p[0] == role]
        else:
            raise RequestError(f"person selector {selector!r}: use victim, perpetrator, child[:N]")
        for p in candidates:
            if (p[0], p[2]) not in chosen:
                chosen.append((p[0], p[2]))
    if not chosen:
        raise RequestError("nobody on this case matches the persons asked for")
    return chosen


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
    within: timedelta | None = None,
    urgency: str = "standard",
    lawful_basis: str | None = None,
) -> Created:
    """Create, sign and queue one request, in one transaction."""
    if urgency not in ("urgent", "standard"):
        raise RequestError("urgency must be urgent or standard")
    assert ctx.ring is not None
    now = ctx.clock.now()
    templates = load_templates(ctx.settings.requests.templates_dir)
    async with ctx.sessions() as session, session.begin():
        case = await session.scalar(select(Case).where(Case.ref == case_ref))
        if case is None:
            raise NotFound(f"no case {case_ref}")
        agency = await session.scalar(
            select(Agency).where(Agency.slug == agency_slug, Agency.active.is_(True))
        )
        if agency is None:
            raise NotFound(f"no active agency {agency_slug!r} (run `agencies sync`?)")
        chosen_template = _pick_template(templates, template, agency.type)
        asked = list(chosen_template.questions) if not questions or template else []
        asked += [
            rq.Question(id=f"q{n}", text=text)
            for n, text in enumerate(questions or [], start=len(asked) + 1)
        ]
        rows = (
            await session.scalars(
                select(Person).where(Person.case_id == case.id).order_by(Person.ordinal)
            )
        ).all()
        people = [(p.role, p.ordinal, ctx.sealer.open_json(p.sealed)) for p in rows]
        selected = _select_people(people, persons, chosen_template.roles)
        scope = rq.RequestScope(
            tuple(
                rq.PersonInScope(
                    role=Role(role),
                    name=data.get("name") or "(name not known)",
                    date_of_birth=date.fromisoformat(data["date_of_birth"])
                    if data.get("date_of_birth")
                    else None,
                    fields=chosen_template.fields,
                    details={
                        k: str(v)
                        for k, v in rq.minimise(
                            {
                                **(data.get("details") or {}),
                                **{
                                    k: data[k]
                                    for k in ("address", "phone", "gender")
                                    if data.get(k)
                                },
                            },
                            chosen_template.fields,
                        ).items()
                    },
                )
                for role, data in selected
            )
        )
        due_rule = "explicit"
        if due_at is None:
            # Explicit time > the agency's own response time (standard requests) > the
            # policy's default for the urgency (working days or hours).
            if within is not None:
                due_at = now + within
            elif agency.response_hours and urgency == "standard":
                due_at, due_rule = now + timedelta(hours=agency.response_hours), "agency"
            else:
                due_at = request_due(now, urgency, ctx.policy, ctx.calendar)
                due_rule = "policy"
        if due_at <= now:
            raise RequestError("the deadline must be in the future")
        basis = rq.LawfulBasis(lawful_basis) if lawful_basis else rq.LawfulBasis()
        request = InfoRequest(
            case_id=case.id,
            agency_id=agency.id,
            state=rq.RequestState.DRAFT.value,
            urgency=urgency,
            template=chosen_template.name,
            lawful_basis=basis.text,
            requested_by=actor,
            authorised_by=authorised_by or actor,
            document_sealed=b"",
            signature_kid="",
            signature_digest="",
            created_at=now,
            due_at=due_at,
            due_rule=due_rule,
        )
        session.add(request)
        await session.flush()
        request.ref = rq.request_reference(now.year, request.id)
        document = rq.request_document(
            reference=request.ref,
            case_ref=case_ref,
            agency=agency.slug,
            requester=actor,
            lawful_basis=basis,
            authorised_by=request.authorised_by,
            due_at=due_at,
            scope=scope,
            questions=asked,
            issued_at=now,
        )
        kid = key_id(bytes(ctx.ring.signing_key.verify_key))
        envelope = sign_document(document, ctx.ring.signing_key, kid)
        request.document_sealed = ctx.sealer.seal(canonicalize(envelope))
        request.signature_kid = kid
        request.signature_digest = signature_fingerprint(envelope)
        token, token_hash = _tokens(ctx).new_link_token()
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
            steps_for_request(due_at, ctx.policy, ctx.calendar, urgency=urgency, issued_at=now),
            set(),
        )
        for notice in request_mails(ctx, request, agency, case_ref, token, envelope):
            await outbox.enqueue(session, ctx, notice)
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
                "questions": len(asked),
            },
        )
    log.info(
        "event=request.created ref=%s agency=%s persons=%d",
        request.ref,
        agency.slug,
        len(scope.persons),
    )
    return Created(request.id, request.ref, due_at, token)


def signature_fingerprint(envelope: dict[str, Any]) -> str:
    """A short, readable digest of the signature, for checking a request by phone."""
    digest = hashlib.sha256(envelope["signature"]["sig"].encode()).hexdigest()[:16].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 16, 4))


def link_url(ctx: Context, token: str) -> str:
    return f"{ctx.settings.hub.public_url.rstrip('/')}/r/{token}"


def reply_address(ctx: Context, request_id: int) -> str:
    local, _, domain = ctx.settings.replies.address.partition("@")
    return _tokens(ctx).reply_address(local, domain, request_id)


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
    """The mail an agency gets: no personal data, only what lets it answer safely."""
    assert request.ref is not None
    lines = [
        f"Dear colleague at {agency.name},",
        "",
        (reminder + "\n") if reminder else "",
        f"The MARRAC team asks for information for request {request.ref}.",
        f"Please answer by {_local(request.due_at, ctx)}.",
        "",
        "Open the request here (you will be sent a one-time code at this mailbox):",
        link_url(ctx, token),
        "",
        "Or reply to this email: your reply is filed on the request.",
        "",
        f"Lawful basis: {request.lawful_basis}",
        f"Signed by marrac-hub key {request.signature_kid}; signature fingerprint "
        f"{request.signature_digest}.",
        f"Public keys: {ctx.settings.hub.public_url.rstrip('/')}/.well-known/marrac-hub/keys.json",
        "If in doubt, call the MARRAC team and check the fingerprint before opening the link.",
    ]
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    if agency.box_public_key:
        sealed = SealedBox(PublicKey(base64.b64decode(agency.box_public_key))).encrypt(
            canonicalize(envelope)
        )
        attachments = ((f"{request.ref}.json.sealed", "application/octet-stream", bytes(sealed)),)
    body = "\n".join(line for line in lines if line is not None)
    return [
        Notice(
            kind="request",
            recipient=address,
            subject=f"MARRAC information request {request.ref}: reply by "
            f"{_local(request.due_at, ctx)}",
            body=body.replace("\n\n\n", "\n\n"),
            dedupe_key=f"request:{request.id}:{token[:8]}:{outbox.recipient_tag(ctx, address)}",
            subject_ref=case_ref,
            reply_to=reply_address(ctx, request.id),
            attachments=attachments,
        )
        for address in agency.emails
    ]


# --- the staff side ---------------------------------------------------------------------


async def list_requests(
    ctx: Context, actor: str, case_ref: str | None = None
) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        query = (
            select(InfoRequest, Case.ref, Agency.slug)
            .join(Case, Case.id == InfoRequest.case_id)
            .join(Agency, Agency.id == InfoRequest.agency_id)
            .order_by(InfoRequest.id)
        )
        if case_ref:
            query = query.where(Case.ref == case_ref)
        rows = (await session.execute(query)).all()
        await audit.record(
            session,
            at=now,
            actor=actor,
            action="requests.list",
            object_ref=case_ref or "requests",
            detail={"count": len(rows)},
        )
    return [_summary(r, cref, slug, now) for r, cref, slug in rows]


def _summary(r: InfoRequest, case_ref: str | None, slug: str, now: datetime) -> dict[str, Any]:
    status = r.state
    if rq.is_overdue(r, now):
        status = "overdue"
    return {
        "id": r.id,
        "ref": r.ref,
        "case_ref": case_ref,
        "agency": slug,
        "status": status,
        "state": r.state,
        "urgency": r.urgency,
        "sent_at": iso_z(r.sent_at),
        "due_at": iso_z(r.due_at),
        "opened_at": iso_z(r.opened_at),
        "answered_at": iso_z(r.answered_at),
        "closed_at": iso_z(r.closed_at),
        "signature": {"kid": r.signature_kid, "fingerprint": r.signature_digest},
    }


async def _find(session: Any, ident: str) -> InfoRequest:
    query = select(InfoRequest)
    query = (
        query.where(InfoRequest.id == int(ident))
        if ident.isdigit()
        else query.where(InfoRequest.ref == ident)
    )
    found = await session.scalar(query)
    if found is None:
        raise NotFound(f"no request {ident}")
    return found  # type: ignore[no-any-return]


async def show_request(ctx: Context, ident: str, actor: str) -> dict[str, Any]:
    """One request with its document and answers decrypted (audited)."""
    assert ctx.ring is not None
    now = ctx.clock.now()
    unseal = SealedBox(ctx.ring.box_key)
    async with ctx.sessions() as session, session.begin():
        r = await _find(session, ident)
        case_ref = await session.scalar(select(Case.ref).where(Case.id == r.case_id))
        slug = await session.scalar(select(Agency.slug).where(Agency.id == r.agency_id))
        answers = (
            await session.scalars(
                select(Answer).where(Answer.request_id == r.id).order_by(Answer.id)
            )
        ).all()
        out = _summary(r, case_ref, slug or "", now)
        out["envelope"] = json.loads(ctx.sealer.open(r.document_sealed))
        out["answers"] = [
            {
                "channel": a.channel,
                "kind": a.kind,
                "received_at": iso_z(a.received_at),
                "content": _open_answer(unseal, a),
            }
            for a in answers
        ]
        await audit.record(
            session, at=now, actor=actor, action="request.show", object_ref=r.ref or str(r.id)
        )
    return out


class AnswerUnreadable(RequestError):
    """A sealed answer failed to open: altered in storage, or sealed to another key."""


def _open_answer(unseal: SealedBox, answer: Answer) -> Any:
    try:
        return json.loads(unseal.decrypt(answer.sealed))
    except CryptoError:
        raise AnswerUnreadable(
            f"answer {answer.id} failed its integrity check: it was altered in storage or "
            "sealed to another key; nothing of it can be shown"
        ) from None


async def withdraw(ctx: Context, ident: str, actor: str) -> str:
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        r = await _find(session, ident)
        try:
            r.state = rq.transition(r.state, rq.RequestEvent.WITHDRAW).value
        except rq.InvalidTransition as exc:
            raise RequestError(str(exc)) from None
        r.closed_at = now
        r.next_action_at = None
        await session.execute(
            update(RequestLink)
            .where(RequestLink.request_id == r.id, RequestLink.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        agency = await session.get(Agency, r.agency_id)
        assert agency is not None and r.ref is not None
        for address in agency.emails:
            await outbox.enqueue(
                session,
                ctx,
                Notice(
                    kind="request-withdrawn",
                    recipient=address,
                    subject=f"MARRAC information request {r.ref} withdrawn",
                    body=f"Request {r.ref} has been withdrawn: please do not answer it.\n"
                    "Its link no longer works.\n",
                    dedupe_key=f"withdrawn:{r.id}:{outbox.recipient_tag(ctx, address)}",
                ),
            )
        await audit.record(
            session, at=now, actor=actor, action="request.withdraw", object_ref=r.ref
        )
        return r.ref


def seal_answer(ctx: Context, content: dict[str, Any]) -> bytes:
    """Seal to the hub's public box key: whoever stores it cannot read it back."""
    assert ctx.ring is not None
    return bytes(
        SealedBox(ctx.ring.box_key.public_key).encrypt(
            json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
        )
    )


async def store_answer(
    ctx: Context,
    request_id: int,
    *,
    channel: str,
    kind: str,
    content: dict[str, Any],
    dedupe_key: str,
    actor: str,
    event: rq.RequestEvent,
) -> tuple[bool, InfoRequest]:
    """File an answer and move the request on, in one transaction. Returns (stored,
    request): ``stored`` is False when this answer was filed before (same dedupe key)."""
    now = ctx.clock.now()
    sealed = seal_answer(ctx, content)
    try:
        async with ctx.sessions() as session, session.begin():
            r = await session.get(InfoRequest, request_id)
            if r is None:
                raise NotFound(f"no request {request_id}")
            session.add(
                Answer(
                    request_id=r.id,
                    dedupe_key=dedupe_key,
                    channel=channel,
                    kind=kind,
                    received_at=now,
                    sealed=sealed,
                    receipt_digest=hashlib.sha256(sealed).hexdigest(),
                )
            )
            try:
                r.state = rq.transition(r.state, event).value
                r.answered_at = r.answered_at or now
                r.closed_at = now
                r.next_action_at = None
            except rq.InvalidTransition:
                if channel != "email":
                    raise
                # A late email reply is kept on the request without changing its state.
            await session.flush()
            await _notify_coordinator(session, ctx, r, kind, channel)
            await audit.record(
                session,
                at=now,
                actor=actor,
                action=f"request.answer.{channel}",
                object_ref=r.ref or str(r.id),
                detail={"kind": kind},
            )
            return True, r
    except IntegrityError:
        async with ctx.sessions() as session, session.begin():
            r = await session.get(InfoRequest, request_id)
            assert r is not None
            return False, r


async def _notify_coordinator(
    session: Any, ctx: Context, r: InfoRequest, kind: str, channel: str
) -> None:
    case = await session.get(Case, r.case_id)
    recipients = staff(ctx, ("coordinator",), case.coordinator if case else None)
    for address in recipients:
        await outbox.enqueue(
            session,
            ctx,
            Notice(
                kind="alert:request-answered",
                recipient=address,
                subject=f"[MARRAC] {r.ref}: {kind.replace('-', ' ')} ({channel})",
                body=f"Request {r.ref} for case {case.ref if case else '-'} was answered "
                f"({kind}, by {channel}).\n\nRead it with: marrac-hub requests show {r.ref}\n",
                dedupe_key=f"answered:{r.id}:{kind}:{channel}:{outbox.recipient_tag(ctx, address)}",
                subject_ref=case.ref if case else None,
            ),
        )


async def evidence(ctx: Context, ident: str, actor: str) -> dict[str, Any]:
    """Everything that shows what happened to a request: each mail with the SMTP
    server's reply (queue id included), each link look and code, the answers' times."""
    from hub.store.models import AlertStep, AuditEvent, OutboxMessage

    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        r = await _find(session, ident)
        case_ref = await session.scalar(select(Case.ref).where(Case.id == r.case_id))
        slug = await session.scalar(select(Agency.slug).where(Agency.id == r.agency_id))
        mails = (
            await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.dedupe_key.like(f"request:{r.id}:%")
                    | OutboxMessage.dedupe_key.like(f"step:request:{r.id}:%")
                    | OutboxMessage.dedupe_key.like(f"withdrawn:{r.id}:%")
                    | OutboxMessage.dedupe_key.like(f"receipt:{r.id}:%")
                )
                .order_by(OutboxMessage.id)
            )
        ).all()
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.object_ref == r.ref).order_by(AuditEvent.id)
            )
        ).all()
        steps = (
            await session.scalars(
                select(AlertStep)
                .where(AlertStep.subject == f"request:{r.id}")
                .order_by(AlertStep.id)
            )
        ).all()
        answers = (
            await session.scalars(
                select(Answer).where(Answer.request_id == r.id).order_by(Answer.id)
            )
        ).all()
        await audit.record(
            session, at=now, actor=actor, action="request.evidence", object_ref=r.ref or str(r.id)
        )
    return {
        "request": _summary(r, case_ref, slug or "", now),
        "mails": [
            {
                "kind": m.kind,
                "message_id": m.message_id,
                "state": m.state,
                "attempts": m.attempts,
                "queued_at": iso_z(m.created_at),
                "sent_at": iso_z(m.sent_at),
                "server_reply": m.server_reply,
                "last_error": m.last_error,
            }
            for m in mails
        ],
        "steps": [
            {
                "step": s.step,
                "due_at": iso_z(s.due_at),
                "done_at": iso_z(s.done_at),
                "outcome": s.outcome,
            }
            for s in steps
        ],
        "events": [
            {"at": iso_z(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in events
        ],
        "answers": [
            {
                "channel": a.channel,
                "kind": a.kind,
                "received_at": iso_z(a.received_at),
                "sha256": a.receipt_digest,
            }
            for a in answers
        ],
        "exported_at": iso_z(now),
    }
