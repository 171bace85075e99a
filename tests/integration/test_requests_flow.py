"""Information requests through real Dovecot and SMTP, on SQLite and PostgreSQL: create,
sign, mail, code, answer; reply by email; tampering; withdrawal; one answer only."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nacl.exceptions import CryptoError
from sqlalchemy import select, update

from hub.clock import FrozenClock, SystemClock
from hub.runtime import drain, file_replies, make_reply_source, make_sender
from hub.services import info_requests, links
from hub.services.outbox import deliver_due
from hub.store.models import Answer
from tests.support.agencies import AGENCIES, GP, agencies, write_directory
from tests.support.hub import FIXTURES, PASSWORD, REFERRALS
from tests.support.hubs import build_hub

ROOT = Path(__file__).parents[2]


@pytest.fixture
def agency_mailboxes(mail_stack: Any) -> Any:
    for user in ("dsl.school@hub.test", "safeguarding.gp@hub.test"):
        if user not in mail_stack.dovecot.users:
            mail_stack.dovecot.add_user(user, PASSWORD)
    return mail_stack


async def hub_with_case(
    stack: Any, tmp_path: Path, db_url: str, clock: Any = None, **overrides: Any
) -> Any:
    """A hub with the case study's case; ``intake={"trusted_authserv_id": ...}`` makes the
    referral arrive vouched for by that server."""
    hub = await build_hub(
        tmp_path,
        db=db_url,
        edges=stack,
        clock=clock or SystemClock(),
        agencies=AGENCIES,
        replies={"password": PASSWORD},
        **overrides,
    )
    ctx = hub.ctx
    referral = (FIXTURES / "referrals" / "01-case-study.eml").read_bytes()
    authserv = ctx.settings.intake.trusted_authserv_id
    if authserv:
        referral = authenticated_by(authserv, "lancashire.police.uk") + referral
    stack.dovecot.append(REFERRALS, referral)
    report = await hub.drain()
    await hub.source.close()
    assert report.outcomes == {"case": 1}
    return ctx, report.results[0].case_ref


def authenticated_by(authserv: str, domain: str) -> bytes:
    """The header a trusted mail gateway adds on top of mail whose DMARC passed."""
    return f"Authentication-Results: {authserv}; dmarc=pass header.from={domain}\r\n".encode()


def a_reply(sender: str, to: str, message_id: str, text: str) -> bytes:
    """An emailed answer as it lands in the replies mailbox."""
    reply = email.message.EmailMessage()
    reply["From"] = sender
    reply["To"] = to
    reply["Subject"] = "Re: MARRAC request"
    reply["Message-ID"] = message_id
    reply.set_content(text)
    return bytes(reply)


async def file_waiting_replies(ctx: Any) -> int:
    source = make_reply_source(ctx.settings)
    assert source is not None
    try:
        return (await drain(ctx, source, record=file_replies)).total
    finally:
        await source.close()


def mail_for(stack: Any, user: str, subject_part: str) -> email.message.EmailMessage:
    for raw in stack.dovecot.fetch_all(user):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        if subject_part in str(msg["Subject"]):
            return msg  # type: ignore[return-value]
    raise AssertionError(f"no mail for {user} about {subject_part!r}")


async def test_request_to_a_school_is_signed_mailed_without_personal_data_and_answered(
    agency_mailboxes: Any, tmp_path: Path, db_url: str
) -> None:
    stack = agency_mailboxes
    ctx, case_ref = await hub_with_case(stack, tmp_path, db_url)
    try:
        # When the co-ordinator asks the school about the children
        created = await info_requests.create_request(
            ctx,
            case_ref=case_ref,
            agency_slug="st-aidans-primary",
            actor="cc@hub.test",
            authorised_by="team-leader.south@hub.test",
            persons=["child:1"],
        )
        await deliver_due(ctx, make_sender(ctx.settings))
        # Then the school's real mailbox holds a mail with the link and no personal data
        msg = mail_for(stack, "dsl.school@hub.test", created.ref)
        body = msg.get_content()
        assert created.token in body
        for secret in ("Lily", "Clarke", "Emma", "Hughes", "2018-07-01", "01/07/2018"):
            assert secret not in body and secret not in str(msg["Subject"])
        assert re.fullmatch(r"replies\+\d+\.[a-z2-7]{16}@hub\.test", msg["Reply-To"])
        assert msg["Auto-Submitted"] == "auto-generated"

        # The document is signed, minimised to the one child and the template's fields
        shown = await info_requests.show_request(ctx, created.ref, "cc@hub.test")
        document = shown["envelope"]["document"]
        assert [p["name"] for p in document["persons"]] == ["Lily Clarke"]
        assert document["persons"][0]["details"] == {"school": "St Aidan's Primary School, Preston"}
        assert shown["status"] == "sent"
        envelope_file = tmp_path / "request.json"
        envelope_file.write_text(json.dumps(shown["envelope"]))
        assert verify(ctx, envelope_file).returncode == 0

        # The agency proves its mailbox with a code and answers once
        assert await links.send_code(ctx, created.token, "test")
        await deliver_due(ctx, make_sender(ctx.settings))
        code_mail = mail_for(stack, "dsl.school@hub.test", "one-time code")
        code = re.search(r"\b(\d{6})\b", code_mail.get_content()).group(1)  # type: ignore[union-attr]
        result = await links.verify_code(ctx, created.token, code, "test")
        assert result.outcome == "ok" and result.grant is not None
        view = await links.view(ctx, result.grant, "test")
        assert view["persons"][0]["name"] == "Lily Clarke"
        submission = links.Submission(
            kind="answered",
            answers=[
                {
                    "question_id": q["id"],
                    "known": True,
                    "last_contact": "2026-03-10",
                    "text": "<script>alert(1)</script> late most days",
                }
                for q in view["questions"]
            ],
        )
        outcome, receipt = await links.submit(ctx, result.grant, submission, "test")
        assert outcome == "stored" and receipt is not None
        again, _ = await links.submit(ctx, result.grant, submission, "test")
        assert again == "already"
        shown = await info_requests.show_request(ctx, created.ref, "cc@hub.test")
        assert shown["status"] == "answered"
        assert shown["answers"][0]["content"]["answers"][0]["text"].startswith("<script>")
        from hub.cli.info_requests import request_text

        assert "  sent by: the secure link" in "\n".join(request_text(shown))
        receipt_file = tmp_path / "receipt.json"
        receipt_file.write_text(json.dumps(receipt))
        assert verify(ctx, receipt_file).returncode == 0
    finally:
        await ctx.close()


def run_cli(config: Path, *args: str) -> str:
    """``marrac-hub <args>`` as staff type it; its standard output."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout


def verify(ctx: Any, path: Path) -> subprocess.CompletedProcess[str]:
    from tests.support.hub import write_config

    config = tmp_config = path.parent / "verify.toml"
    write_config(
        tmp_config,
        {
            "hub": {"data_dir": str(ctx.settings.hub.data_dir)},
            "intake": {"source": "maildir", "maildir": str(path.parent / "m")},
            "smtp": {"transport": "maildir", "maildir": str(path.parent / "s")},
            "alerts": {"team_leaders": ["t@hub.test"]},
        },
    )
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "verify", str(path), "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


async def test_tampered_documents_and_ciphertexts_fail_clearly(
    agency_mailboxes: Any, tmp_path: Path
) -> None:
    ctx, case_ref = await hub_with_case(
        agency_mailboxes, tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    )
    try:
        created = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug="larch-street-surgery", actor="cc"
        )
        envelope = (await info_requests.show_request(ctx, created.ref, "cc"))["envelope"]
        # A modified document, a modified signature, a wrong key id: all INVALID
        forged = json.loads(json.dumps(envelope))
        forged["document"]["due_at"] = "2099-01-01T00:00:00Z"
        bad_sig = json.loads(json.dumps(envelope))
        sig = bad_sig["signature"]["sig"]
        bad_sig["signature"]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
        wrong_kid = json.loads(json.dumps(envelope))
        wrong_kid["signature"]["kid"] = "0000000000000000"
        for name, doc in (("forged", forged), ("sig", bad_sig), ("kid", wrong_kid)):
            path = tmp_path / f"{name}.json"
            path.write_text(json.dumps(doc))
            run = verify(ctx, path)
            assert run.returncode == 1 and run.stdout.startswith("INVALID"), (name, run.stdout)
        # An answer altered in the database fails to open with a clear error
        await info_requests.store_answer(
            ctx,
            created.id,
            channel="email",
            kind="email",
            content={"text": "x"},
            dedupe_key="email:test",
            actor="test",
            event=info_requests.rq.RequestEvent.ANSWER_BY_EMAIL,
        )
        async with ctx.sessions() as s, s.begin():
            sealed = await s.scalar(select(Answer.sealed))
            await s.execute(update(Answer).values(sealed=sealed[:-1] + bytes([sealed[-1] ^ 1])))
        with pytest.raises(info_requests.AnswerUnreadable, match="failed its integrity check"):
            await info_requests.show_request(ctx, created.ref, "cc")
    finally:
        await ctx.close()


async def test_an_agency_can_answer_by_replying_and_strangers_land_in_triage(
    agency_mailboxes: Any, tmp_path: Path, db_url: str
) -> None:
    stack = agency_mailboxes
    ctx, case_ref = await hub_with_case(stack, tmp_path, db_url)
    try:
        created = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug="larch-street-surgery", actor="cc"
        )
        await deliver_due(ctx, make_sender(ctx.settings))
        original = mail_for(stack, "safeguarding.gp@hub.test", created.ref)
        reply = email.message.EmailMessage()
        reply["From"] = "safeguarding.gp@hub.test"
        reply["To"] = original["Reply-To"]
        reply["Subject"] = "Re: " + str(original["Subject"])
        reply["Message-ID"] = "<reply-1@gp.hub.test>"
        reply.set_content("Mother seen 02/03 with anxiety; next appointment Friday.")
        forged = email.message.EmailMessage()
        forged["From"] = "someone@hub.test"
        forged["To"] = f"replies+{created.id}.aaaaaaaaaaaaaaaa@hub.test"
        forged["Subject"] = "Re: guess"
        forged["Message-ID"] = "<forged-1@hub.test>"
        forged.set_content("made up")
        import smtplib

        with smtplib.SMTP("127.0.0.1", stack.smtp.port) as smtp:
            smtp.send_message(reply, to_addrs=[str(original["Reply-To"])])
            smtp.send_message(forged, to_addrs=[str(forged["To"])])
        await asyncio.sleep(0)
        source = make_reply_source(ctx.settings)
        assert source is not None
        report = await drain(ctx, source, record=file_replies)
        await source.close()
        assert report.total == 2
        shown = await info_requests.show_request(ctx, created.ref, "cc")
        assert shown["status"] == "answered-by-email"
        assert "next appointment Friday" in shown["answers"][0]["content"]["text"]
        async with ctx.sessions() as s, s.begin():
            from hub.store.models import UnmatchedReply

            assert len((await s.scalars(select(UnmatchedReply))).all()) == 1
        await deliver_due(ctx, make_sender(ctx.settings))
        leader = [m["Subject"] for m in stack.smtp.messages(to="team-leader.south@hub.test")]
        assert any("could not be matched" in s for s in leader)
        assert any(created.ref in s and "email" in s for s in leader)
        # A person files the unmatched reply by hand; it is listed once, then gone
        from hub.services import replies

        waiting = await replies.list_unmatched(ctx, "tl")
        assert [w["sender"] for w in waiting] == ["someone@hub.test"]
        await replies.file_by_hand(ctx, int(waiting[0]["id"]), created.ref, "tl")  # type: ignore[call-overload]
        assert await replies.list_unmatched(ctx, "tl") == []
        shown = await info_requests.show_request(ctx, created.ref, "cc")
        assert [a["content"].get("filed_by") for a in shown["answers"]] == [None, "tl"]
        with pytest.raises(LookupError):
            await replies.file_by_hand(ctx, int(waiting[0]["id"]), created.ref, "tl")  # type: ignore[call-overload]
    finally:
        await ctx.close()


async def test_a_stranger_holding_a_valid_reply_address_is_triaged_not_filed(
    agency_mailboxes: Any, tmp_path: Path, db_url: str
) -> None:
    # Given a request to the GP, whose reply address leaked to a stranger
    stack = agency_mailboxes
    ctx, case_ref = await hub_with_case(stack, tmp_path, db_url)
    try:
        created = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug="larch-street-surgery", actor="cc"
        )
        address = info_requests.reply_address(ctx, created.id)
        stranger = a_reply("stranger@evil.example", address, "<s-1@evil.example>", "No concerns.")
        stack.dovecot.append("replies@hub.test", stranger)
        # When the replies mailbox is read
        assert await file_waiting_replies(ctx) == 1
        # Then nothing is filed on the request: the reply waits in triage with its reason
        shown = await info_requests.show_request(ctx, created.ref, "cc")
        assert shown["status"] == "sent" and shown["answers"] == []
        from hub.services import replies

        (waiting,) = await replies.list_unmatched(ctx, "tl")
        assert waiting["sender"] == "stranger@evil.example"
        assert "not one of the agency's registered mailboxes" in str(waiting["reason"])
        # And `replies list` shows it with that reason
        from tests.support.hub import settings_dict, write_config

        config = write_config(tmp_path / "cli.toml", settings_dict(tmp_path, db_url))
        listed = await asyncio.to_thread(run_cli, config, "replies", "list")
        assert "stranger@evil.example" in listed
        assert "why: reply sender is not one of the agency's registered mailboxes" in listed
        # The registered mailbox is still heard, and the answer says who sent it
        own = a_reply("Safeguarding.GP@hub.test", address, "<gp-1@hub.test>", "Seen Friday.")
        stack.dovecot.append("replies@hub.test", own)
        assert await file_waiting_replies(ctx) == 1
        shown = await info_requests.show_request(ctx, created.ref, "cc")
        assert shown["status"] == "answered-by-email"
        assert [a["content"]["from"] for a in shown["answers"]] == ["safeguarding.gp@hub.test"]
        # `requests show` says who sent the answer
        printed = await asyncio.to_thread(run_cli, config, "requests", "show", created.ref)
        assert "  sent by: email from safeguarding.gp@hub.test\n" in printed
    finally:
        await ctx.close()


async def test_with_a_trusted_server_a_reply_must_be_authenticated_to_be_filed(
    agency_mailboxes: Any, tmp_path: Path
) -> None:
    stack = agency_mailboxes
    ctx, case_ref = await hub_with_case(
        stack,
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path}/hub.db",
        intake={"trusted_authserv_id": "mx.hub.test", "allow_unauthenticated": False},
    )
    try:
        created = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug="larch-street-surgery", actor="cc"
        )
        address = info_requests.reply_address(ctx, created.id)
        # A forged From: of the GP's registered mailbox, with no verdict from our gateway
        forged = a_reply("safeguarding.gp@hub.test", address, "<f-1@hub.test>", "All fine.")
        stack.dovecot.append("replies@hub.test", forged)
        assert await file_waiting_replies(ctx) == 1
        from hub.services import replies

        (waiting,) = await replies.list_unmatched(ctx, "tl")
        assert "not authenticated" in str(waiting["reason"])
        shown = await info_requests.show_request(ctx, created.ref, "cc")
        assert shown["answers"] == []
        # The same mailbox, vouched for by the trusted gateway, is filed
        genuine = authenticated_by("mx.hub.test", "hub.test") + a_reply(
            "safeguarding.gp@hub.test", address, "<g-1@hub.test>", "Seen Friday."
        )
        stack.dovecot.append("replies@hub.test", genuine)
        assert await file_waiting_replies(ctx) == 1
        shown = await info_requests.show_request(ctx, created.ref, "cc")
        assert shown["status"] == "answered-by-email"
        assert "Seen Friday." in shown["answers"][0]["content"]["text"]
    finally:
        await ctx.close()


async def test_withdrawn_and_expired_links_stop_working(
    agency_mailboxes: Any, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    clock = FrozenClock(datetime(2026, 11, 26, 9, tzinfo=UTC))
    ctx, case_ref = await hub_with_case(
        agency_mailboxes, tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hub.db", clock
    )
    try:
        a = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug="larch-street-surgery", actor="cc"
        )
        b = await info_requests.create_request(
            ctx,
            case_ref=case_ref,
            agency_slug="st-aidans-primary",
            actor="cc",
            within=timedelta(days=30),
        )
        assert (await links.landing(ctx, a.token, "t")).state == "ok"
        await info_requests.withdraw(ctx, a.ref, "cc")
        assert (await links.landing(ctx, a.token, "t")).state == "unusable"
        assert not await links.send_code(ctx, a.token, "t")
        clock.advance(timedelta(days=15))  # past the 14-day link life
        assert (await links.landing(ctx, b.token, "t")).state == "unusable"
        await links.renew(ctx, b.token, "t")
        await deliver_due(ctx, make_sender(ctx.settings))
        fresh = mail_for(agency_mailboxes, "dsl.school@hub.test", "")
        assert fresh is not None
    finally:
        await ctx.close()


async def test_requests_reissue_mails_a_new_link_for_the_same_request_and_revokes_the_old(
    agency_mailboxes: Any, tmp_path: Path
) -> None:
    from tests.support.hub import settings_dict, write_config

    db_url = f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    ctx, case_ref = await hub_with_case(agency_mailboxes, tmp_path, db_url)
    try:
        created = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug=GP, actor="cc"
        )
        # When the co-ordinator reissues it from the command line
        config = write_config(tmp_path / "cli.toml", settings_dict(tmp_path, db_url))
        printed = await asyncio.to_thread(run_cli, config, "requests", "reissue", created.ref)
        assert printed.startswith(f"{created.ref}: a new link is queued to the agency")
        # Then the old link is dead, and the agency is mailed a new one for the same reference
        assert (await links.landing(ctx, created.token, "t")).state == "unusable"
        await deliver_due(ctx, make_sender(ctx.settings))
        mails = [
            email.message_from_bytes(raw, policy=email.policy.default)
            for raw in agency_mailboxes.dovecot.fetch_all("safeguarding.gp@hub.test")
        ]
        requests = [m for m in mails if f"information request {created.ref}" in str(m["Subject"])]
        assert len(requests) == 2
        newest = requests[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "the earlier link no longer works" in newest and created.token not in newest
        token = re.search(r"/r/([A-Za-z0-9_-]{43})", newest)
        assert token is not None
        assert (await links.landing(ctx, token.group(1), "t")).state == "ok"
        assert "Clarke" not in newest  # no personal data in the mail
        # And it is audited under the staff member's name
        from hub.store.models import AuditEvent

        async with ctx.sessions() as s, s.begin():
            event = await s.scalar(select(AuditEvent).where(AuditEvent.action == "request.reissue"))
        assert event is not None and event.object_ref == created.ref
        assert event.actor.startswith("cli:")
        # A request that cannot be reissued is a message, not a traceback
        await info_requests.withdraw(ctx, created.ref, "cc")
        command = ["requests", "reissue", created.ref, "--config", str(config)]
        refused = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "hub.cli", *command],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert refused.returncode != 0 and "withdrawn" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        await ctx.close()


async def test_an_agency_with_a_public_key_gets_the_signed_request_sealed_to_it(
    agency_mailboxes: Any, tmp_path: Path
) -> None:
    import base64

    from nacl.public import PrivateKey, SealedBox

    from hub.crypto.signing import verify_document

    agency_key = PrivateKey.generate()
    stack = agency_mailboxes
    ctx, case_ref = await hub_with_case(stack, tmp_path, f"sqlite+aiosqlite:///{tmp_path}/h.db")
    try:
        public = base64.b64encode(bytes(agency_key.public_key)).decode()
        write_directory(tmp_path / "agencies.toml", agencies(box_public_keys={GP: public}))
        await info_requests.sync_agencies(ctx, tmp_path / "agencies.toml", "test")
        created = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug="larch-street-surgery", actor="cc"
        )
        await deliver_due(ctx, make_sender(ctx.settings))
        msg = mail_for(stack, "safeguarding.gp@hub.test", created.ref)
        parts = [p for p in msg.iter_attachments()]
        assert [p.get_filename() for p in parts] == [f"{created.ref}.json.sealed"]
        sealed = parts[0].get_content()
        # Only the agency's private key opens it; the hub's published key verifies it
        envelope = json.loads(SealedBox(agency_key).decrypt(sealed))
        with pytest.raises(CryptoError):
            SealedBox(PrivateKey.generate()).decrypt(sealed)
        assert ctx.ring is not None
        from hub.crypto.signing import key_id

        vk = bytes(ctx.ring.signing_key.verify_key)
        document = verify_document(envelope, {key_id(vk): vk})
        assert document["reference"] == created.ref
        assert document["persons"][0]["name"] in ("Emma Clarke", "Daniel Hughes")
    finally:
        await ctx.close()


async def test_links_and_reply_addresses_survive_a_token_key_rotation(
    agency_mailboxes: Any, tmp_path: Path
) -> None:
    from hub.crypto import keys
    from hub.services.context import open_context
    from hub.services.replies import match_request

    ctx, case_ref = await hub_with_case(
        agency_mailboxes, tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    )
    try:
        before = await info_requests.create_request(
            ctx, case_ref=case_ref, agency_slug="larch-street-surgery", actor="cc"
        )
        old_reply = info_requests.reply_address(ctx, before.id)
    finally:
        await ctx.close()
    # When the token key is rotated (a new key becomes active, the old one is kept)
    keys.generate(ctx.settings.hub.key_dir, ("token",))
    ctx = await open_context(ctx.settings)
    try:
        assert info_requests.reply_address(ctx, before.id) != old_reply
        # Then the link and the reply address issued before still work
        assert (await links.landing(ctx, before.token, "t")).state == "ok"
        assert match_request(ctx, f"To: {old_reply}\r\n\r\nhello".encode()) == before.id
        assert await links.send_code(ctx, before.token, "t")
        # and a forged address still matches nothing
        forged = old_reply.replace(old_reply.split(".")[1][:4], "aaaa")
        assert forged != old_reply
        assert match_request(ctx, f"To: {forged}\r\n\r\nx".encode()) is None
    finally:
        await ctx.close()


# --- as a new user would try it (issue 8) ---------------------------------------------------


async def memory_hub_with_case(make_hub: Any) -> tuple[Any, str]:
    from hub.ports import InboundItem
    from hub.services.intake import ingest_batch
    from tests.support.referrals import referral

    hub = await make_hub(agencies=AGENCIES)
    ref = (await ingest_batch(hub.ctx, [InboundItem("k:1", "m", referral(1))]))[0].case_ref
    assert ref is not None
    return hub, ref


async def test_an_own_question_is_added_to_the_template_questions(make_hub: Any) -> None:
    hub, ref = await memory_hub_with_case(make_hub)
    created = await info_requests.create_request(
        hub.ctx,
        case_ref=ref,
        agency_slug="st-aidans-primary",
        actor="cc",
        questions=["Any school moves this year?"],
    )
    shown = await info_requests.show_request(hub.ctx, created.ref, "cc")
    asked = [q["id"] for q in shown["envelope"]["document"]["questions"]]
    assert asked == ["known", "concerns", "contact", "q4"]


async def test_no_request_on_a_closed_case(make_hub: Any) -> None:
    from hub.services import casework

    hub, ref = await memory_hub_with_case(make_hub)
    await casework.close(hub.ctx, ref, "done", "cc")
    with pytest.raises(info_requests.RequestError, match="closed"):
        await info_requests.create_request(
            hub.ctx, case_ref=ref, agency_slug="st-aidans-primary", actor="cc"
        )


async def test_the_victim_is_not_shared_with_a_school_unless_a_template_allows_it(
    make_hub: Any,
) -> None:
    hub, ref = await memory_hub_with_case(make_hub)
    with pytest.raises(info_requests.RequestError, match="asks only about child"):
        await info_requests.create_request(
            hub.ctx, case_ref=ref, agency_slug="st-aidans-primary", actor="cc", persons=["victim"]
        )
    # Naming a template that covers victims is the explicit, audited choice.
    created = await info_requests.create_request(
        hub.ctx,
        case_ref=ref,
        agency_slug="st-aidans-primary",
        actor="cc",
        persons=["victim"],
        template="general",
    )
    shown = await info_requests.show_request(hub.ctx, created.ref, "cc")
    assert [p["role"] for p in shown["envelope"]["document"]["persons"]] == ["victim"]


async def test_an_agency_response_time_ends_in_its_working_hours(make_hub: Any) -> None:
    from datetime import UTC, datetime

    from hub.domain.policy import Duration
    from hub.store.models import Agency

    hub, ref = await memory_hub_with_case(make_hub)
    async with hub.ctx.sessions() as session, session.begin():
        await session.execute(update(Agency).values(response_hours=48))
    # Wednesday 11 March 2026, 04:03 GMT: 48 hours on is 04:03 on Friday; Thursday
    # 10:00 plus 48 hours is a Saturday. Both move to the agency's next opening.
    hub.clock.set(datetime(2026, 3, 11, 4, 3, tzinfo=UTC))
    early = await info_requests.create_request(
        hub.ctx, case_ref=ref, agency_slug="st-aidans-primary", actor="cc"
    )
    assert early.due_at == datetime(2026, 3, 13, 8, 0, tzinfo=UTC)
    hub.clock.set(datetime(2026, 3, 12, 10, 0, tzinfo=UTC))
    weekend = await info_requests.create_request(
        hub.ctx, case_ref=ref, agency_slug="larch-street-surgery", actor="cc"
    )
    assert weekend.due_at == datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
    # Five working days from Thursday 10:00 is the Thursday after, 10:00.
    counted = await info_requests.create_request(
        hub.ctx,
        case_ref=ref,
        agency_slug="preston-health-visitors",
        actor="cc",
        within=Duration(5, "wd"),
    )
    assert counted.due_at == datetime(2026, 3, 19, 10, 0, tzinfo=UTC)
