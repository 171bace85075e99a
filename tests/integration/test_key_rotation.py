"""Key rotation without loss (issue 8; STYLE.md habit 12): create data, rotate all five
kinds of key, restart, and read every old case, answer, attachment, link, reply address
and signature back through the services. Each read has a wrong-key twin that must fail."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from hub.crypto import keys
from hub.crypto.indexes import Indexer
from hub.crypto.signing import public_keys_document, trusted_keys, verify_document
from hub.ports import InboundItem
from hub.services import cases, info_requests, links, rotation
from hub.services.context import Context, open_context
from hub.services.intake import ingest_batch
from hub.services.outbox import deliver_due
from hub.services.replies import file_reply, match_request
from hub.store.models import Person
from tests.support.agencies import AGENCIES, GP, MAILBOX, SCHOOL
from tests.support.hubs import TestHub
from tests.support.referrals import referral

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
VICTIM = "Emma Rotation"


async def _signed_in(hub: TestHub, token: str) -> links.Grant:
    """Ask for a code, take it from the agency's mail, prove it: a grant for the link."""
    assert await links.send_code(hub.ctx, token, "test")
    await hub.deliver()
    mail = email.message_from_bytes(hub.sender.sent[-1].message, policy=email.policy.default)
    found = re.search(r"one-time code is: (\d{6})\b", mail.get_content())  # type: ignore[attr-defined]
    assert found is not None
    result = await links.verify_code(hub.ctx, token, found.group(1), "test")
    assert result.grant is not None
    return result.grant


def _reply(sender: str, to: str, text: str) -> bytes:
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = sender, to, "Re: MARRAC request"
    reply["Message-ID"] = "<reply-before-rotation@gp.hub.test>"
    reply.set_content(text)
    return bytes(reply)


async def _victim_index(ctx: Context, case_id: int) -> str | None:
    async with ctx.sessions() as session, session.begin():
        query = select(Person.identity_index).where(
            Person.case_id == case_id, Person.role == "victim"
        )
        return await session.scalar(query)


async def _make_data(hub: TestHub) -> dict[str, Any]:
    """A case, a request answered by link with a file, one answered by email, one open."""
    ctx = hub.ctx
    taken = await ingest_batch(ctx, [InboundItem("k:1", "m", referral(1, victim=VICTIM))])
    case_ref = taken[0].case_ref
    assert case_ref is not None
    school, gp, open_one = [
        await info_requests.create_request(ctx, case_ref=case_ref, agency_slug=slug, actor="cc")
        for slug in (SCHOOL, GP, SCHOOL)
    ]
    grant = await _signed_in(hub, school.token)
    view = await links.view(ctx, grant, "test")
    answers = [{"question_id": q["id"], "known": True, "text": "seen"} for q in view["questions"]]
    submission = links.Submission(
        "answered", answers, attachments=(("a.pdf", "application/pdf", PDF),)
    )
    outcome, receipt = await links.submit(ctx, grant, submission, "test")
    assert outcome == "stored" and receipt is not None
    reply_to = info_requests.reply_address(ctx, gp.id)
    raw = _reply(MAILBOX[GP], reply_to, "Known to us since 2024.")
    await file_reply(ctx, InboundItem("r:1", "replies", raw))
    envelope = (await info_requests.show_request(ctx, school.ref, "cc"))["envelope"]
    return {
        "case_ref": case_ref,
        "school": school,
        "gp": gp,
        "open": open_one,
        "reply_to": info_requests.reply_address(ctx, open_one.id),
        "receipt": receipt,
        "envelope": envelope,
        "index": await _victim_index(ctx, 1),
    }


async def _reads_everything_back(hub: TestHub, ctx: Context, old: dict[str, Any]) -> None:
    case = await cases.show_case(ctx, old["case_ref"], "cc")
    assert VICTIM in str(case)
    school = await info_requests.show_request(ctx, old["school"].ref, "cc")
    attachment = school["answers"][0]["content"]["attachments"][0]
    assert base64.b64decode(attachment["data"]) == PDF
    gp = await info_requests.show_request(ctx, old["gp"].ref, "cc")
    assert "Known to us since 2024." in str(gp["answers"][0]["content"])
    # Signatures made with the old signing key verify with what keys.json now publishes.
    trusted = trusted_keys(public_keys_document(ctx.ring))  # type: ignore[arg-type]
    assert verify_document(old["envelope"], trusted) == old["envelope"]["document"]
    assert verify_document(old["receipt"], trusted) == old["receipt"]["document"]
    # The link and reply address issued under the old token key still work.
    assert (await links.landing(ctx, old["open"].token, "test")).state == "ok"
    assert match_request(ctx, f"To: {old['reply_to']}\r\n\r\nhi".encode()) == old["open"].id
    assert await links.send_code(ctx, old["open"].token, "test")
    # Mail queued under the old data key is still delivered.
    assert await deliver_due(ctx, hub.sender) > 0


async def test_every_key_rotates_and_every_old_record_reads_back(
    make_hub: Any, db_url: str
) -> None:
    hub = await make_hub(db=db_url, agencies=AGENCIES)
    old = await _make_data(hub)
    key_dir = hub.settings.hub.key_dir
    before = keys.load(key_dir)

    # When every kind of key is rotated, and the hub restarts on the new keys
    for kind in keys.KINDS:
        done = await rotation.rotate_key(hub.ctx, kind)
        assert done.replaced == before.active[kind] != done.fingerprint
    ctx = await open_context(hub.settings, hub.clock)
    try:
        assert all(ctx.ring.active[k] != before.active[k] for k in keys.KINDS)  # type: ignore[union-attr]
        # Then every old record reads back
        await _reads_everything_back(hub, ctx, old)
        # The blind index was recomputed under the new key, so the victim is found again
        assert await _victim_index(ctx, 1) == Indexer(ctx.ring).blind(  # type: ignore[arg-type]
            "identity", "emma rotation|1994-05-02"
        )
        assert old["index"] != await _victim_index(ctx, 1)  # twin: the old index is gone
        again = await ingest_batch(ctx, [InboundItem("k:2", "m", referral(2, victim=VICTIM))])
        later = await cases.show_case(ctx, again[0].case_ref or "", "cc")
        assert later["linked_cases"] == [old["case_ref"]]
        # And the background job moves every sealed value to the new data key, once
        report = await rotation.reseal(ctx)
        assert report.resealed > 0 and report.unreadable == 0 and report.reindexed == 0
        assert (await rotation.reseal(ctx)).resealed == 0
    finally:
        await ctx.close()

    # With the old data key gone, everything opens still: it was all re-sealed.
    (key_dir / f"data-{before.active['data']}.key").unlink()
    ctx = await open_context(hub.settings, hub.clock)
    try:
        assert VICTIM in str(await cases.show_case(ctx, old["case_ref"], "cc"))
        assert (await info_requests.show_request(ctx, old["gp"].ref, "cc"))["answers"]
    finally:
        await ctx.close()

    # Wrong-key twin: without the old box key, the answers sealed to it cannot be read.
    (key_dir / f"box-{before.active['box']}.key").unlink()
    ctx = await open_context(hub.settings, hub.clock)
    try:
        with pytest.raises(info_requests.AnswerUnreadable, match="does not have"):
            await info_requests.show_request(ctx, old["school"].ref, "cc")
    finally:
        await ctx.close()


async def test_a_hub_still_on_the_old_keys_does_not_reseal(make_hub: Any) -> None:
    hub = await make_hub(agencies=AGENCIES)
    await ingest_batch(hub.ctx, [InboundItem("k:1", "m", referral(1))])
    await rotation.rotate_key(hub.ctx, "data")
    # The running hub loaded its keys before the rotation: it leaves re-sealing to the
    # restarted one rather than re-seal under the key it still holds.
    assert await rotation.reseal(hub.ctx) == rotation.ResealReport()
    ctx = await open_context(hub.settings, hub.clock)
    try:
        assert (await rotation.reseal(ctx)).resealed > 0
    finally:
        await ctx.close()


def test_every_sealed_column_is_walked_and_answers_are_not() -> None:
    names = {f"{t.name}.{c.name}" for t, c in rotation.sealed_columns()}
    assert {"cases.details_sealed", "persons.sealed", "outbox.message_sealed"} <= names
    assert not any(name.startswith("answers.") for name in names)
