"""Information requests to agencies: ``agencies sync`` loads the directory, ``requests
create|list|show|withdraw|reissue|evidence`` act on the requests themselves.

(Not ``requests.py``: that name would hide the well-known HTTP library from readers.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hub.cli.common import (
    Commands,
    actor,
    fail,
    instant,
    listing,
    print_json,
    quoted,
    reference,
    safe,
    show,
    with_context,
)
from hub.config import Settings
from hub.domain.policy import Duration
from hub.services import info_requests, links
from hub.services.context import Context


def register(commands: Commands) -> None:
    agencies = commands.group("agencies", "the agency directory")
    p = commands.add(
        "sync", cmd_agencies_sync, "load the agency directory file into the database", agencies
    )
    p.add_argument("--file", type=Path, default=None, help="default: [agencies] file")
    p.add_argument(
        "--force",
        action="store_true",
        help="load a directory that lists no agency (deactivates every agency)",
    )
    p = commands.add("list", cmd_agencies_list, "list the agencies in the database", agencies)
    p.add_argument("--json", action="store_true")
    group = commands.group("requests", "information requests")
    _add_create(
        commands.add("create", cmd_requests_create, "create, sign and send a request", group)
    )
    p = commands.add("list", cmd_requests_list, "list requests", group)
    p.add_argument("--case", type=reference, default=None)
    p.add_argument("--json", action="store_true")
    p = commands.add("show", cmd_requests_show, "show a request and its answers", group)
    p.add_argument("id", type=reference, help="id or RQ- reference")
    p.add_argument("--json", action="store_true")
    p = commands.add("withdraw", cmd_requests_withdraw, "withdraw a request", group)
    p.add_argument("id", type=reference, help="id or RQ- reference")
    p = commands.add(
        "reissue",
        cmd_requests_reissue,
        "mail the agency a new link for the same request (revokes the old; unlocks)",
        group,
    )
    p.add_argument("id", help="id or RQ- reference")
    p = commands.add(
        "evidence", cmd_requests_evidence, "delivery evidence as one JSON document", group
    )
    p.add_argument("id", type=reference, help="id or RQ- reference")


def _add_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", type=reference, required=True)
    p.add_argument("--agency", required=True, help="agency slug")
    p.add_argument(
        "--template",
        default=None,
        help="default: the template for the agency's type; only the roles a template "
        "names can be asked about (e.g. --template general to ask a school about a victim)",
    )
    p.add_argument(
        "--person",
        action="append",
        help="victim | perpetrator | child | child:N (repeatable; within the template's roles)",
    )
    p.add_argument(
        "--question", action="append", help="a question added to the template's (repeatable)"
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--due", type=instant, default=None, help="ISO 8601 with zone")
    when.add_argument(
        "--within",
        type=duration,
        default=None,
        help="e.g. 24h, 3d, 5wd (working days); it ends in the agency's working hours",
    )
    p.add_argument("--urgency", choices=["urgent", "standard"], default="standard")
    p.add_argument("--authorised-by", default=None, help="who authorised the sharing")
    p.add_argument("--lawful-basis", default=None)


def duration(text: str) -> Duration:
    """``24h``, ``3d``, ``5wd`` (working days), as the policy file writes them."""
    try:
        parsed = Duration.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if parsed.amount <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time to come (e.g. 24h, 5wd)")
    return parsed


async def cmd_agencies_sync(settings: Settings, args: argparse.Namespace) -> int:
    given: Path | None = args.file or settings.requests.agencies_file
    if given is None:
        return fail("no agency directory file: give --file or set [agencies] file")
    path = Path(given)

    async def run(ctx: Context) -> int:
        try:
            counts = await info_requests.sync_agencies(ctx, path, actor(args), force=args.force)
        except info_requests.RequestError as exc:
            return fail(exc)
        print("agencies: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0

    return await with_context(settings, run)


async def cmd_requests_create(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            created = await info_requests.create_request(
                ctx,
                case_ref=args.case,
                agency_slug=args.agency,
                actor=actor(args),
                authorised_by=args.authorised_by,
                template=args.template,
                persons=args.person or None,
                questions=args.question or None,
                due_at=args.due,
                within=args.within,
                urgency=args.urgency,
                lawful_basis=args.lawful_basis,
            )
        except (info_requests.RequestError, ValueError) as exc:
            return fail(exc)
        # The link token is mailed to the agency only: never printed.
        print(f"{created.ref} queued to {args.agency}, due {created.due_at.isoformat()}")
        return 0

    return await with_context(settings, run)


async def cmd_agencies_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await info_requests.list_agencies(ctx)
        return listing(
            args,
            found,
            "no agencies (run `agencies sync`)",
            lambda a: (
                f"{a['slug']:28} {a['type']:16} {'active' if a['active'] else 'inactive':8} "
                f"{len(a['emails'])} mailbox(es)  {safe(a['name'])}"
            ),
        )

    return await with_context(settings, run)


async def cmd_requests_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            found = await info_requests.list_requests(ctx, actor(args), args.case)
        except info_requests.RequestError as exc:
            return fail(exc)
        return listing(
            args,
            found,
            "no requests",
            lambda r: (
                f"{r['ref']:16} {r['case_ref']:16} {r['agency']:26} {r['status']:18} "
                f"due {r['due_at'][:16]}"
            ),
        )

    return await with_context(settings, run)


def sent_by(answer: dict[str, Any]) -> str:
    """Who sent an answer: the secure link, or the address an email came from (shown to
    staff here only; the logs never carry it)."""
    content = answer["content"]
    if answer["channel"] == "link":
        return "the secure link (code mailed to the agency's registered mailboxes)"
    who = f"email from {safe(content.get('from') or 'no sender address')}"
    if content.get("filed_by"):
        who += f", filed by hand by {safe(content['filed_by'])}"
    return who


def answer_text(answer: dict[str, Any], questions: dict[str, str]) -> list[str]:
    """One answer as ``requests show`` prints it, each question by its text."""
    content = answer["content"]
    lines = [f"answer by {answer['channel']} at {answer['received_at']} ({answer['kind']}):"]
    lines.append(f"  sent by: {sent_by(answer)}")
    if content.get("decline_reason"):
        lines += ["  declined:", quoted(content["decline_reason"], "    ")]
    for item in content.get("answers", []):
        known = {True: "known", False: "not known", None: "-"}[item.get("known")]
        lines.append(f"  {safe(questions.get(item['question_id'], item['question_id']))}")
        lines.append(f"    [{known}; last contact {safe(item.get('last_contact') or '-')}]")
        if item.get("text"):
            lines.append(quoted(item["text"], "    "))
    if content.get("text"):
        lines.append(quoted(content["text"].strip()))
    lines += [
        f"  attachment: {safe(att['filename'])} ({att['size']} bytes)"
        for att in content.get("attachments", [])
    ]
    return lines


def request_text(found: dict[str, Any]) -> list[str]:
    """A request as ``requests show`` prints it: who it is about, then every answer."""
    lines = [
        f"{found['ref']}  case {found['case_ref']}  agency {found['agency']}  "
        f"status {found['status']}  due {found['due_at']}"
    ]
    document = found["envelope"]["document"]
    lines += [
        f"  about: {safe(p['role'])} {safe(p['name'])} "
        f"({safe(p['date_of_birth'] or 'dob unknown')})"
        for p in document["persons"]
    ]
    questions = {q["id"]: q["text"] for q in document["questions"]}
    for answer in found["answers"]:
        lines += answer_text(answer, questions)
    return lines


async def cmd_requests_show(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            found = await info_requests.show_request(ctx, args.id, actor(args))
        except info_requests.RequestError as exc:
            return fail(exc)
        if args.json:
            print_json(found)
        else:
            show(request_text(found))
        return 0

    return await with_context(settings, run)


async def cmd_requests_withdraw(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            ref = await info_requests.withdraw(ctx, args.id, actor(args))
        except info_requests.RequestError as exc:
            return fail(exc)
        print(f"{ref} withdrawn; its links are revoked and the agency told")
        return 0

    return await with_context(settings, run)


async def cmd_requests_reissue(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            ref = await links.reissue(ctx, args.id, actor(args))
        except info_requests.RequestError as exc:
            return fail(exc)
        # The new link is mailed to the agency only: never printed.
        print(f"{ref}: a new link is queued to the agency; earlier links no longer work")
        return 0

    return await with_context(settings, run)


async def cmd_requests_evidence(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            found = await info_requests.evidence(ctx, args.id, actor(args))
        except info_requests.NotFound as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print_json(found)
        return 0

    return await with_context(settings, run)
