"""Cases: ``cases list|show`` and the case co-ordinator's steps (``allocate``, ``plan``,
``review``, ``close``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hub.cli.common import (
    Commands,
    actor,
    fail,
    listing,
    print_json,
    quoted,
    reference,
    safe,
    show,
    with_context,
)
from hub.config import Settings
from hub.services import cases, casework
from hub.services.context import Context

# One co-ordinator's step on a case: what it did, in a line, or CaseworkError.
Step = Callable[[Context, argparse.Namespace, str], Awaitable[str]]


def register(commands: Commands) -> None:
    group = commands.group("cases", "cases")
    p = commands.add("list", cmd_cases_list, "list cases", group)
    p.add_argument("--json", action="store_true")
    p = commands.add("show", cmd_cases_show, "show one case", group)
    p.add_argument("ref", type=reference, help="case reference (any letter case)")
    p.add_argument("--json", action="store_true")
    p = commands.add("allocate", cmd_allocate, "name the case co-ordinator", group)
    p.add_argument("ref", type=reference, help="case reference (any letter case)")
    p.add_argument("--to", required=True, help="the co-ordinator's email address")
    p = commands.add("plan", cmd_plan, "record the plan agreed with the MEs", group)
    p.add_argument("ref", type=reference, help="case reference (any letter case)")
    p.add_argument("--agreed", action="store_true", required=True)
    p = commands.add("review", cmd_review, "record the two-week review", group)
    p.add_argument("ref", type=reference, help="case reference (any letter case)")
    p.add_argument("--risk", required=True, help="the re-assessed risk level")
    p = commands.add("close", cmd_close, "close the case and tell every agency", group)
    p.add_argument("ref", type=reference, help="case reference (any letter case)")
    p.add_argument("--reason", required=True)


def one_line(case: dict[str, Any]) -> str:
    """A case as one line of ``cases list``."""
    flags = []
    if case["repeat_of"]:
        flags.append(f"repeat of {case['repeat_of']}")
    if case["problems"]:
        flags.append(f"{len(case['problems'])} problem(s)")
    return (
        f"{case['ref']:16} {case['status']:12} {case['received_at'][:16]:16} "
        f"risk={safe(case['risk_level'] or '-'):8} "
        f"force_ref={safe(case['force_reference'] or '-')}"
        + (f"  [{'; '.join(flags)}]" if flags else "")
    )


def _person_text(label: str, p: dict[str, Any] | None) -> list[str]:
    if p is None:
        return [f"{label}: (none given)"]
    name, born = safe(p["name"] or "(no name)"), safe(p["date_of_birth"] or "unknown")
    lines = [f"{label}: {name}, born {born}"]
    for key in ("gender", "address", "phone"):
        if p.get(key):
            lines.append(f"    {key}: {safe(p[key])}")
    for key, value in sorted((p.get("details") or {}).items()):
        lines.append(f"    {safe(key.replace('_', ' '))}: {safe(value)}")
    return lines


def case_text(case: dict[str, Any]) -> list[str]:
    """A case as ``cases show`` prints it: its line, the referrer, the people, the rest."""
    referrer = case["referrer"]
    forwarded = case["forwarded_by"]
    lines = [
        one_line(case),
        f"Referrer: {safe(referrer['name'] or '-')} <{safe(referrer['email'] or '-')}>"
        + (f" (forwarded by {safe(forwarded)})" if forwarded else ""),
        *_person_text("Victim", case["victim"]),
        *_person_text("Perpetrator", case["perpetrator"]),
    ]
    for child in case["children"]:
        lines += _person_text("Child", child)
    if case["summary"]:
        lines += ["Summary:", quoted(case["summary"])]
    lines += [
        f"Attachment: {safe(a['filename'])} ({safe(a['content_type'])}, {a['size']} bytes)"
        for a in case["attachments"]
    ]
    lines += [f"Problem: {safe(p)}" for p in case["problems"]]
    return lines


async def cmd_cases_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await cases.list_cases(ctx, actor(args))
        return listing(args, found, "no cases", one_line)

    return await with_context(settings, run)


async def cmd_cases_show(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            case = await cases.show_case(ctx, args.ref, actor(args))
        except cases.NotFound as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if args.json:
            print_json(case)
        else:
            show(case_text(case))
        return 0

    return await with_context(settings, run)


async def _take_step(settings: Settings, args: argparse.Namespace, step: Step) -> int:
    """Run one casework step, printing what it did or why it was refused."""

    async def run(ctx: Context) -> int:
        try:
            done = await step(ctx, args, actor(args))
        except casework.CaseworkError as exc:
            return fail(exc)
        print(done)
        return 0

    return await with_context(settings, run)


async def _allocate(ctx: Context, args: argparse.Namespace, who: str) -> str:
    await casework.allocate(ctx, args.ref, args.to, who)
    return f"{args.ref} allocated to {args.to}"


async def _plan(ctx: Context, args: argparse.Namespace, who: str) -> str:
    state = await casework.plan_agreed(ctx, args.ref, who)
    return f"{args.ref}: plan agreed; 48-hour milestone {state}"


async def _review(ctx: Context, args: argparse.Namespace, who: str) -> str:
    state = await casework.reviewed(ctx, args.ref, args.risk, who)
    return f"{args.ref}: reviewed (risk {args.risk}); 2-week milestone {state}"


async def _close(ctx: Context, args: argparse.Namespace, who: str) -> str:
    n = await casework.close(ctx, args.ref, args.reason, who)
    return f"{args.ref} closed; closure notice queued to {n} agenc{'y' if n == 1 else 'ies'}"


async def cmd_allocate(settings: Settings, args: argparse.Namespace) -> int:
    return await _take_step(settings, args, _allocate)


async def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    return await _take_step(settings, args, _plan)


async def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    return await _take_step(settings, args, _review)


async def cmd_close(settings: Settings, args: argparse.Namespace) -> int:
    return await _take_step(settings, args, _close)
