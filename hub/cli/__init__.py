"""The ``marrac-hub`` command: set up, run, and look at cases from a terminal.

Every command takes ``--config PATH`` (default ``$MARRAC_HUB_CONFIG``, then
``./hub.toml``). Reads of personal data are audited under ``--actor`` (default
``$MARRAC_HUB_ACTOR``, then the operating-system user).
Exit codes: 0 done, 1 not found or failed, 2 bad settings or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub import __version__, logs
from hub.config import ConfigError, Settings, default_path, load
from hub.crypto.keys import KeyFileError
from hub.ports import InboundItem
from hub.services import cases, info_requests, parked
from hub.services.context import Context, initialise, open_context
from hub.services.outbox import deliver_due


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _listing(
    args: argparse.Namespace, found: list[Any], empty: str, line: Callable[[Any], str]
) -> int:
    """A list command's output: the JSON list with --json, else one line per item."""
    if args.json:
        _print_json(found)
    elif not found:
        print(empty)
    else:
        for item in found:
            print(line(item))
    return 0


def _actor(args: argparse.Namespace) -> str:
    return "cli:" + (args.actor or os.environ.get("MARRAC_HUB_ACTOR") or getpass.getuser())


async def _with_context(settings: Settings, fn: Callable[[Context], Awaitable[int]]) -> int:
    ctx = await open_context(settings)
    try:
        return await fn(ctx)
    finally:
        await ctx.close()


async def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    fingerprints = await initialise(settings)
    print(f"database ready: {_redact_url(settings.database.url)}")
    print(f"keys in {settings.hub.key_dir} (mode 0600):")
    for kind, fp in sorted(fingerprints.items()):
        print(f"  {kind:8} {fp}")
    return 0


def _redact_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


async def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    print(f"settings OK: {settings.source_path}")
    print(f"  database: {_redact_url(settings.database.url)}")
    print(f"  intake:   {settings.intake.source}")
    print(f"  smtp:     {settings.smtp.transport}")
    return 0


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import serve

    async def run(ctx: Context) -> int:
        from hub.web.app import run_web

        assert ctx.ring is not None
        ring = ctx.ring
        await serve(ctx, lambda: run_web(ctx, ring))
        return 0

    return await _with_context(settings, run)


async def cmd_intake(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import drain, file_replies, make_reply_source, make_sender, make_source

    async def run(ctx: Context) -> int:
        source = make_source(settings)
        try:
            report = await drain(ctx, source)
        finally:
            await source.close()
        replies = make_reply_source(settings)
        filed = 0
        if replies is not None:
            try:
                filed = (await drain(ctx, replies, record=file_replies)).total
            finally:
                await replies.close()
        sent = await deliver_due(ctx, make_sender(settings))
        summary = {**report.outcomes, "parked": report.parked, "replies": filed, "mail_sent": sent}
        if args.json:
            _print_json(summary)
        else:
            print("intake: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.items())))
            for r in report.results:
                if r.case_ref and not r.already:
                    print(f"  {r.case_ref}  {r.outcome.value}")
        return 0

    return await _with_context(settings, run)


async def cmd_outbox_deliver(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import make_sender

    async def run(ctx: Context) -> int:
        print(f"sent {await deliver_due(ctx, make_sender(settings))}")
        return 0

    return await _with_context(settings, run)


def _one_line(case: dict[str, Any]) -> str:
    flags = []
    if case["repeat_of"]:
        flags.append(f"repeat of {case['repeat_of']}")
    if case["problems"]:
        flags.append(f"{len(case['problems'])} problem(s)")
    return (
        f"{case['ref']:16} {case['status']:12} {case['received_at'][:16]:16} "
        f"risk={case['risk_level'] or '-':8} force_ref={case['force_reference'] or '-'}"
        + (f"  [{'; '.join(flags)}]" if flags else "")
    )


async def cmd_cases_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await cases.list_cases(ctx, _actor(args))
        return _listing(args, found, "no cases", _one_line)

    return await _with_context(settings, run)


def _person_text(label: str, p: dict[str, Any] | None) -> list[str]:
    if p is None:
        return [f"{label}: (none given)"]
    lines = [f"{label}: {p['name'] or '(no name)'}, born {p['date_of_birth'] or 'unknown'}"]
    for key in ("gender", "address", "phone"):
        if p.get(key):
            lines.append(f"    {key}: {p[key]}")
    for key, value in sorted((p.get("details") or {}).items()):
        lines.append(f"    {key.replace('_', ' ')}: {value}")
    return lines


async def cmd_cases_show(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            case = await cases.show_case(ctx, args.ref, _actor(args))
        except cases.NotFound as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if args.json:
            _print_json(case)
            return 0
        print(_one_line(case))
        ref = case["referrer"]
        print(
            f"Referrer: {ref['name'] or '-'} <{ref['email'] or '-'}>"
            + (f" (forwarded by {case['forwarded_by']})" if case["forwarded_by"] else "")
        )
        for line in _person_text("Victim", case["victim"]):
            print(line)
        for line in _person_text("Perpetrator", case["perpetrator"]):
            print(line)
        for child in case["children"]:
            for line in _person_text("Child", child):
                print(line)
        if case["summary"]:
            print("Summary: " + case["summary"])
        for a in case["attachments"]:
            print(f"Attachment: {a['filename']} ({a['content_type']}, {a['size']} bytes)")
        for p in case["problems"]:
            print(f"Problem: {p}")
        return 0

    return await _with_context(settings, run)


def _inbound_cmd(outcome: str) -> Callable[[Settings, argparse.Namespace], Awaitable[int]]:
    async def cmd(settings: Settings, args: argparse.Namespace) -> int:
        async def run(ctx: Context) -> int:
            found = await cases.list_inbound(ctx, outcome, _actor(args))
            return _listing(
                args,
                found,
                f"no {outcome} mail",
                lambda m: (
                    f"#{m['id']:<6} {m['received_at'][:16]}  {m['sender'] or '-'}  {m['reason']}"
                ),
            )

        return await _with_context(settings, run)

    return cmd


async def cmd_parked_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await parked.list_parked(ctx, include_done=args.all)
        return _listing(
            args,
            found,
            "nothing parked",
            lambda p: (
                f"#{p['id']:<5} {p['stage']:8} {p['state']:8} {p['created_at'][:16]}  {p['error']}"
            ),
        )

    return await _with_context(settings, run)


async def cmd_parked_retry(settings: Settings, args: argparse.Namespace) -> int:
    from hub.runtime import DrainReport, handle

    async def run(ctx: Context) -> int:
        try:
            stage, key, payload = await parked.take_for_retry(ctx, args.id, _actor(args))
        except LookupError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if stage != "intake" or payload is None:
            print(f"stage {stage} cannot be replayed from here", file=sys.stderr)
            return 1
        report = DrainReport()
        await handle(ctx, InboundItem(source_key=key, mailbox="parked", raw=payload), report)
        if report.parked:
            print(f"parked item {args.id} failed again and was parked anew")
            return 1
        r = report.results[0]
        print(f"parked item {args.id}: {r.outcome.value} {r.case_ref or ''}".rstrip())
        return 0

    return await _with_context(settings, run)


async def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import audit

    async def run(ctx: Context) -> int:
        async with ctx.sessions() as session, session.begin():
            count, broken = await audit.verify(session)
        if broken is not None:
            print(f"audit chain BROKEN at event {broken} ({count} checked)")
            return 1
        print(f"audit chain intact: {count} events")
        return 0

    return await _with_context(settings, run)


def _duration(text: str) -> timedelta:
    """``24h``, ``3d``, ``90m``."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: use a number with m, h or d (e.g. 24h)")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time zone (Z or +01:00)")
    return value


async def cmd_agencies_sync(settings: Settings, args: argparse.Namespace) -> int:
    path = args.file or settings.requests.agencies_file

    async def run(ctx: Context) -> int:
        try:
            counts = await info_requests.sync_agencies(ctx, Path(path), _actor(args))
        except info_requests.RequestError as exc:
            print(f"marrac-hub: {exc}", file=sys.stderr)
            return 1
        print("agencies: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0

    return await _with_context(settings, run)


async def cmd_requests_create(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            created = await info_requests.create_request(
                ctx,
                case_ref=args.case,
                agency_slug=args.agency,
                actor=_actor(args),
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
            print(f"marrac-hub: {exc}", file=sys.stderr)
            return 1
        # The link token is mailed to the agency only: never printed.
        print(f"{created.ref} queued to {args.agency}, due {created.due_at.isoformat()}")
        return 0

    return await _with_context(settings, run)


async def cmd_requests_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        found = await info_requests.list_requests(ctx, _actor(args), args.case)
        return _listing(
            args,
            found,
            "no requests",
            lambda r: (
                f"{r['ref']:16} {r['case_ref']:16} {r['agency']:26} {r['status']:18} "
                f"due {r['due_at'][:16]}"
            ),
        )

    return await _with_context(settings, run)


async def cmd_requests_show(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            found = await info_requests.show_request(ctx, args.id, _actor(args))
        except info_requests.RequestError as exc:
            print(f"marrac-hub: {exc}", file=sys.stderr)
            return 1
        if args.json:
            _print_json(found)
            return 0
        print(
            f"{found['ref']}  case {found['case_ref']}  agency {found['agency']}  "
            f"status {found['status']}  due {found['due_at']}"
        )
        document = found["envelope"]["document"]
        for p in document["persons"]:
            print(f"  about: {p['role']} {p['name']} ({p['date_of_birth'] or 'dob unknown'})")
        questions = {q["id"]: q["text"] for q in document["questions"]}
        for a in found["answers"]:
            content = a["content"]
            print(f"answer by {a['channel']} at {a['received_at']} ({a['kind']}):")
            if content.get("decline_reason"):
                print(f"  declined: {content['decline_reason']}")
            for item in content.get("answers", []):
                known = {True: "known", False: "not known", None: "-"}[item.get("known")]
                print(f"  {questions.get(item['question_id'], item['question_id'])}")
                print(
                    f"    [{known}; last contact {item.get('last_contact') or '-'}] "
                    f"{item.get('text', '')}"
                )
            if content.get("text"):
                print("  " + content["text"].strip().replace("\n", "\n  "))
            for att in content.get("attachments", []):
                print(f"  attachment: {att['filename']} ({att['size']} bytes)")
        return 0

    return await _with_context(settings, run)


async def cmd_requests_withdraw(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            ref = await info_requests.withdraw(ctx, args.id, _actor(args))
        except info_requests.RequestError as exc:
            print(f"marrac-hub: {exc}", file=sys.stderr)
            return 1
        print(f"{ref} withdrawn; its links are revoked and the agency told")
        return 0

    return await _with_context(settings, run)


def cmd_verify(args: argparse.Namespace) -> int:
    """Offline check of a signed request, receipt or answer (no database needed)."""
    import base64

    from hub.crypto import keys as keyfiles
    from hub.crypto.signing import SignatureError, key_id, verify_document

    try:
        envelope = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"INVALID: cannot read {args.file}: {exc}")
        return 1
    trusted: dict[str, bytes] = {}
    if args.keys:
        published = json.loads(Path(args.keys).read_text(encoding="utf-8"))
        for entry in published.get("keys", []):
            if entry.get("alg") == "Ed25519":
                raw = entry["public_key"]
                trusted[entry["kid"]] = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    else:
        settings = load(args.config or default_path())
        ring = keyfiles.load(settings.hub.key_dir)
        from nacl.signing import SigningKey

        for key in ring.keys["signing"].values():
            public = bytes(SigningKey(key.secret).verify_key)
            trusted[key_id(public)] = public
    try:
        document = verify_document(envelope, trusted)
    except SignatureError as exc:
        print(f"INVALID: {exc}")
        return 1
    print(
        f"VALID: {document.get('type')} {document.get('reference')} signed by "
        f"{envelope['signature']['kid']}"
    )
    return 0


async def cmd_replies_list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import replies

    async def run(ctx: Context) -> int:
        found = await replies.list_unmatched(ctx, _actor(args))
        return _listing(
            args,
            found,
            "no unmatched replies",
            lambda r: (
                f"#{r['id']:<5} {str(r['received_at'])[:16]}  {r['sender'] or '-'}  "
                f"{r['subject'] or ''}"
            ),
        )

    return await _with_context(settings, run)


async def cmd_replies_file(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import replies

    async def run(ctx: Context) -> int:
        try:
            await replies.file_by_hand(ctx, args.id, args.request, _actor(args))
        except LookupError as exc:
            print(f"marrac-hub: {exc}", file=sys.stderr)
            return 1
        print(f"reply #{args.id} filed on {args.request}")
        return 0

    return await _with_context(settings, run)


def _casework(action: str) -> Callable[[Settings, argparse.Namespace], Awaitable[int]]:
    async def cmd(settings: Settings, args: argparse.Namespace) -> int:
        from hub.services import casework

        async def run(ctx: Context) -> int:
            actor = _actor(args)
            try:
                if action == "allocate":
                    await casework.allocate(ctx, args.ref, args.to, actor)
                    print(f"{args.ref} allocated to {args.to}")
                elif action == "plan":
                    state = await casework.plan_agreed(ctx, args.ref, actor)
                    print(f"{args.ref}: plan agreed; 48-hour milestone {state}")
                elif action == "review":
                    state = await casework.reviewed(ctx, args.ref, args.risk, actor)
                    print(f"{args.ref}: reviewed (risk {args.risk}); 2-week milestone {state}")
                else:
                    n = await casework.close(ctx, args.ref, args.reason, actor)
                    print(
                        f"{args.ref} closed; closure notice queued to {n} agenc"
                        f"{'y' if n == 1 else 'ies'}"
                    )
            except casework.CaseworkError as exc:
                print(f"marrac-hub: {exc}", file=sys.stderr)
                return 1
            return 0

        return await _with_context(settings, run)

    return cmd


async def cmd_sweep(settings: Settings, args: argparse.Namespace) -> int:
    from hub.clock import FrozenClock
    from hub.runtime import make_sender
    from hub.services import sweep

    async def run(ctx: Context) -> int:
        if args.now is not None:
            # Replaying an instant: mail is dated and delivered as of that instant too.
            ctx.clock = FrozenClock(args.now)
        report = await sweep.sweep(ctx)
        sent = await deliver_due(ctx, make_sender(settings))
        print(
            f"sweep: {report.milestones} milestone(s), {report.requests} request(s) looked "
            f"at; {report.steps} step(s) due; {sent} mail(s) sent"
        )
        return 0

    return await _with_context(settings, run)


async def cmd_alerts_list(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import sweep

    async def run(ctx: Context) -> int:
        found = await sweep.alerts_sent(ctx)
        return _listing(
            args,
            found,
            "no alerts sent",
            lambda a: (
                f"{a['queued_at'][:16]} {a['subject_ref'] or '-':16} {a['kind']:20} "
                f"{a['step']:14} -> {a['recipient']} ({a['delivery']})"
            ),
        )

    return await _with_context(settings, run)


async def cmd_requests_evidence(settings: Settings, args: argparse.Namespace) -> int:
    async def run(ctx: Context) -> int:
        try:
            found = await info_requests.evidence(ctx, args.id, _actor(args))
        except info_requests.NotFound as exc:
            print(str(exc), file=sys.stderr)
            return 1
        _print_json(found)
        return 0

    return await _with_context(settings, run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marrac-hub", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"marrac-hub {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default $MARRAC_HUB_CONFIG, then ./hub.toml)",
    )
    common.add_argument("--actor", default=None, help="who is acting, for the audit trail")
    common.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Any, help: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, parents=[common], help=help)
        p.set_defaults(fn=fn)
        return p

    add("init", cmd_init, "create the database and the keys")
    add("check-config", cmd_check_config, "validate the settings file")
    add("serve", cmd_serve, "run intake and the outbox until stopped (SIGTERM)")
    p = add("intake", cmd_intake, "drain the mailbox, deliver the outbox, exit")
    p.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="drain once and exit (the only mode; `serve` runs continuously)",
    )
    p.add_argument("--json", action="store_true")

    outbox = sub.add_parser("outbox", help="outgoing mail").add_subparsers(
        dest="sub", required=True
    )
    add("deliver", cmd_outbox_deliver, "send what is due now", outbox)

    c = sub.add_parser("cases", help="cases").add_subparsers(dest="sub", required=True)
    p = add("list", cmd_cases_list, "list cases", c)
    p.add_argument("--json", action="store_true")
    p = add("show", cmd_cases_show, "show one case", c)
    p.add_argument("ref")
    p.add_argument("--json", action="store_true")

    p = add("allocate", _casework("allocate"), "name the case co-ordinator", c)
    p.add_argument("ref")
    p.add_argument("--to", required=True, help="the co-ordinator's email address")
    p = add("plan", _casework("plan"), "record the plan agreed with the MEs", c)
    p.add_argument("ref")
    p.add_argument("--agreed", action="store_true", required=True)
    p = add("review", _casework("review"), "record the two-week review", c)
    p.add_argument("ref")
    p.add_argument("--risk", required=True, help="the re-assessed risk level")
    p = add("close", _casework("close"), "close the case and tell every agency", c)
    p.add_argument("ref")
    p.add_argument("--reason", required=True)

    p = add("sweep", cmd_sweep, "send what deadlines make due now, then deliver the outbox")
    p.add_argument("--now", type=_instant, default=None, help="sweep as of this instant")
    al = sub.add_parser("alerts", help="warnings, chases, escalations").add_subparsers(
        dest="sub", required=True
    )
    p = add("list", cmd_alerts_list, "what the sweep sent", al)
    p.add_argument("--json", action="store_true")

    for outcome, name in (
        ("quarantine", "quarantine"),
        ("machine", "machine-mail"),
        ("duplicate", "duplicates"),
    ):
        grp = sub.add_parser(name, help=f"{outcome} mail").add_subparsers(dest="sub", required=True)
        p = add("list", _inbound_cmd(outcome), f"list {outcome} mail", grp)
        p.add_argument("--json", action="store_true")

    pk = sub.add_parser("parked", help="items that failed").add_subparsers(
        dest="sub", required=True
    )
    p = add("list", cmd_parked_list, "list parked items", pk)
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include retried items")
    p = add("retry", cmd_parked_retry, "put a parked item back through its stage", pk)
    p.add_argument("id", type=int)

    ag = sub.add_parser("agencies", help="the agency directory").add_subparsers(
        dest="sub", required=True
    )
    p = add("sync", cmd_agencies_sync, "load the agency directory file into the database", ag)
    p.add_argument("--file", type=Path, default=None, help="default: [agencies] file")

    rqp = sub.add_parser("requests", help="information requests").add_subparsers(
        dest="sub", required=True
    )
    p = add("create", cmd_requests_create, "create, sign and send a request", rqp)
    p.add_argument("--case", required=True)
    p.add_argument("--agency", required=True, help="agency slug")
    p.add_argument("--template", default=None)
    p.add_argument(
        "--person", action="append", help="victim | perpetrator | child | child:N (repeatable)"
    )
    p.add_argument("--question", action="append", help="an extra question (repeatable)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--due", type=_instant, default=None, help="ISO 8601 with zone")
    when.add_argument("--within", type=_duration, default=None, help="e.g. 24h, 3d")
    p.add_argument("--urgency", choices=["urgent", "standard"], default="standard")
    p.add_argument("--authorised-by", default=None, help="who authorised the sharing")
    p.add_argument("--lawful-basis", default=None)
    p = add("list", cmd_requests_list, "list requests", rqp)
    p.add_argument("--case", default=None)
    p.add_argument("--json", action="store_true")
    p = add("show", cmd_requests_show, "show a request and its answers", rqp)
    p.add_argument("id", help="id or RQ- reference")
    p.add_argument("--json", action="store_true")
    p = add("withdraw", cmd_requests_withdraw, "withdraw a request", rqp)
    p.add_argument("id")
    p = add("evidence", cmd_requests_evidence, "delivery evidence as one JSON document", rqp)
    p.add_argument("id")

    rp = sub.add_parser("replies", help="agencies' email replies").add_subparsers(
        dest="sub", required=True
    )
    p = add("list", cmd_replies_list, "replies that matched no request", rp)
    p.add_argument("--json", action="store_true")
    p = add("file", cmd_replies_file, "file an unmatched reply on a request", rp)
    p.add_argument("id", type=int)
    p.add_argument("--request", required=True, help="RQ- reference")

    p = sub.add_parser(
        "verify", parents=[common], help="check a signed request, answer or receipt offline"
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--keys",
        type=Path,
        default=None,
        help="a published keys.json (default: this hub's own keys)",
    )
    p.set_defaults(fn=None, sync_fn=cmd_verify)

    au = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="sub", required=True)
    add("verify", cmd_audit_verify, "check the audit hash chain", au)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(verbose=args.verbose)
    if getattr(args, "sync_fn", None) is not None:
        try:
            return int(args.sync_fn(args))
        except (ConfigError, KeyFileError) as exc:
            print(f"marrac-hub: {exc}", file=sys.stderr)
            return 2
    try:
        settings = load(args.config or default_path())
    except ConfigError as exc:
        print(f"marrac-hub: bad settings: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(args.fn(settings, args))
    except KeyFileError as exc:
        print(f"marrac-hub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
