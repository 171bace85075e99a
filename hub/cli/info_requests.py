"""Information requests to agencies: ``agencies sync`` loads the directory, ``requests
create|list|show|withdraw|evidence`` act on the requests themselves.

(Not ``requests.py``: that name would hide the well-known HTTP library from readers.)
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.cli.common import Commands, actor, fail, instant, listing, print_json, with_context
from hub.config import Settings
from hub.services import info_requests
from hub.services.context import Context


def register(commands: Commands) -> None:
    agencies = commands.group("agencies", "the agency directory")
    p = commands.add(
        "sync", cmd_agencies_sync, "load the agency directory file into the database", agencies
    )
    p.add_argument("--file", type=Path, default=None, help="default: [agencies] file")
    group = commands.group("requests", "information requests")
    _add_create(
        commands.add("create", cmd_requests_create, "create, sign and send a request", group)
    )
    p = commands.add("list", cmd_requests_list, "list requests", group)
    p.add_argument("--case", default=None)
    p.add_argument("--json", action="store_true")
    p = commands.add("show", cmd_requests_show, "show a request and its answers", group)
    p.add_argument("id", help="id or RQ- reference")
    p.add_argument("--json", action="store_true")
    p = commands.add("withdraw", cmd_requests_withdraw, "withdraw a request", group)
    p.add_argument("id")
    p = commands.add(
        "evidence", cmd_requests_evidence, "delivery evidence as one JSON document", group
    )
    p.add_argument("id")


def _add_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", required=True)
    p.add_argument("--agency", required=True, help="agency slug")
    p.add_argument("--template", default=None)
    p.add_argument(
        "--person", action="append", help="victim | perpetrator | child | child:N (repeatable)"
    )
    p.add_argument("--question", action="append", help="an extra question (repeatable)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--due", type=instant, default=None, help="ISO 8601 with zone")
    when.add_argument("--within", type=duration, default=None, help="e.g. 24h, 3d")
    p.add_argument("--urgency", choices=["urgent", "standard"], default="standard")
    p.add_argument("--authorised-by", default=None, help="who authorised the sharing")
    p.add_argument("--lawful-basis", default=None)


def duration(text: str) -> timedelta:
    """``24h``, ``3d``, ``90m``."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: use a number with m, h or d (e.g. 24h)")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


async def cmd_agencies_sync(settings: Settings, args: argparse.Namespace) -> int:
    given: Path | None = args.file or settings.requests.agencies_file
    if given is None:
        return fail("no agency directory file: give --file or set [agencies] file")
    path = Path(given)

    async def run(ctx: Context) -> int:
        try:
            counts = await info_requests.sync_agencies(ctx, path, actor(args))
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


async def cmd_requests_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await info_requests.list_requests(ctx, actor(args), args.case)
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


def answer_text(answer: dict[str, Any], questions: dict[str, str]) -> list[str]:
    """One answer as ``requests show`` prints it, each question by its text."""
    content = answer["content"]
    lines = [f"answer by {answer['channel']} at {answer['received_at']} ({answer['kind']}):"]
    if content.get("decline_reason"):
        lines.append(f"  declined: {content['decline_reason']}")
    for item in content.get("answers", []):
        known = {True: "known", False: "not known", None: "-"}[item.get("known")]
        lines.append(f"  {questions.get(item['question_id'], item['question_id'])}")
        lines.append(
            f"    [{known}; last contact {item.get('last_contact') or '-'}] {item.get('text', '')}"
        )
    if content.get("text"):
        lines.append("  " + content["text"].strip().replace("\n", "\n  "))
    lines += [
        f"  attachment: {att['filename']} ({att['size']} bytes)"
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
        f"  about: {p['role']} {p['name']} ({p['date_of_birth'] or 'dob unknown'})"
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
            print("\n".join(request_text(found)))
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
