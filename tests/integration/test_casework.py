"""Closing a case tells every agency involved and is met when every notice is delivered;
the 08:00 digest goes once a day to each co-ordinator. Real SMTP, both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub.clock import FrozenClock
from hub.ports import InboundItem
from hub.runtime import make_sender
from hub.services import casework, info_requests, sweep
from hub.services.context import Context
from hub.services.intake import ingest_batch
from hub.services.outbox import deliver_due
from hub.store.models import Milestone
from tests.support.agencies import ELSEWHERE, GP, SCHOOL, agencies
from tests.support.hubs import build_hub
from tests.support.referrals import referral

T0 = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)  # Wednesday 10:00 London


async def setup(stack: Any, tmp_path: Path, db_url: str) -> tuple[Context, FrozenClock, str]:
    clock = FrozenClock(T0)
    directory = agencies(
        only=(SCHOOL, GP),
        emails={SCHOOL: ("school@agency.example", "head@agency.example"), GP: ELSEWHERE[GP]},
    )
    hub = await build_hub(tmp_path, db=db_url, edges=stack, clock=clock, agencies=directory)
    ctx = hub.ctx
    ref = (await ingest_batch(ctx, [InboundItem("k:1", "m", referral(1))]))[0].case_ref
    assert ref is not None
    return ctx, clock, ref


async def closure_state(ctx: Context) -> tuple[str, datetime | None]:
    async with ctx.sessions() as s, s.begin():
        m = await s.scalar(select(Milestone).where(Milestone.kind == "closure-notice-24h"))
        assert m is not None
        return m.state, m.met_at


async def test_closing_a_case_tells_every_agency_and_is_met_when_delivered(
    mail_stack: Any, tmp_path: Path, db_url: str
) -> None:
    ctx, clock, ref = await setup(mail_stack, tmp_path, db_url)
    try:
        await casework.allocate(ctx, ref, "cc@team.example", "tl")
        for slug in (SCHOOL, GP):
            await info_requests.create_request(ctx, case_ref=ref, agency_slug=slug, actor="cc")
        clock.advance(timedelta(days=3))
        assert await casework.close(ctx, ref, "plan delivered, MEs safe", "cc") == 2
        # Open requests are withdrawn with the case
        listed = await info_requests.list_requests(ctx, "cc", ref)
        assert {r["state"] for r in listed} == {"withdrawn"}
        await sweep.sweep(ctx)
        assert (await closure_state(ctx))[0] == "pending"  # nothing delivered yet
        clock.advance(timedelta(hours=2))
        await deliver_due(ctx, make_sender(ctx.settings))
        await sweep.sweep(ctx)
        state, met_at = await closure_state(ctx)
        assert state == "met" and met_at is not None and met_at <= clock.now()
        closure = [
            m
            for m in mail_stack.smtp.messages()
            if "case closed" in str(m["Subject"]) and "police" not in m["To"]
        ]
        assert sorted(m["To"] for m in closure) == [
            "gp@agency.example",
            "head@agency.example",
            "school@agency.example",
        ]
        for m in closure:
            assert "Victim" not in m.get_content() and ref not in m.get_content()
    finally:
        await ctx.close()


async def test_the_digest_goes_once_a_day_listing_what_is_due_and_overdue(
    mail_stack: Any, tmp_path: Path, db_url: str
) -> None:
    ctx, clock, ref = await setup(mail_stack, tmp_path, db_url)
    try:
        await casework.allocate(ctx, ref, "cc@team.example", "tl")
        clock.set(datetime(2026, 5, 22, 7, 0, tzinfo=UTC))  # Friday 08:00 London (BST)
        assert await sweep.digest(ctx) == 1
        assert await sweep.digest(ctx) == 1  # run again (a restart): queued once only
        await deliver_due(ctx, make_sender(ctx.settings))
        digests = [
            m
            for m in mail_stack.smtp.messages(to="cc@team.example")
            if str(m["Subject"]).startswith("[MARRAC] Today")
        ]
        assert len(digests) == 1
        body = digests[0].get_content()
        # The referral came Wednesday 09:00 UTC: the plan is due Friday 09:00 UTC (today),
        # the review in two weeks (not listed).
        assert f"{ref}: plan-48h due today" in body
        assert "review-2w" not in body
        clock.advance(timedelta(days=1))  # Saturday: the plan is now overdue
        await sweep.digest(ctx)
        await deliver_due(ctx, make_sender(ctx.settings))
        saturday = [
            m
            for m in mail_stack.smtp.messages(to="cc@team.example")
            if str(m["Subject"]).startswith("[MARRAC] Today")
        ][-1]
        assert f"{ref}: plan-48h OVERDUE" in saturday.get_content()
    finally:
        await ctx.close()


async def test_closure_names_the_requests_and_tells_the_police_referrer(make_hub: Any) -> None:
    import email
    import email.policy

    from tests.support.agencies import AGENCIES, MAILBOX

    hub = await make_hub(agencies=AGENCIES)
    ctx = hub.ctx
    ref = (await ingest_batch(ctx, [InboundItem("k:1", "m", referral(1))]))[0].case_ref
    assert ref is not None
    created = await info_requests.create_request(
        ctx, case_ref=ref, agency_slug=SCHOOL, actor="cc", urgency="urgent"
    )
    await casework.close(ctx, ref, "plan delivered", "cc")
    await hub.deliver()

    def mails(to: str) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(env.message, policy=email.policy.default)  # type: ignore[misc]
            for env in hub.sender.sent_to(to)
        ]

    school = mails(MAILBOX[SCHOOL])
    # An urgent request says so in its subject
    assert str(school[0]["Subject"]).startswith(f"URGENT: MARRAC information request {created.ref}")
    # The closure notice names the request the school knows, not the case
    closure = [m for m in school if "case closed" in str(m["Subject"])]
    assert len(closure) == 1 and created.ref in str(closure[0]["Subject"])
    assert created.ref in closure[0].get_content() and ref not in closure[0].get_content()
    # The officer who referred the case hears it is closed, with references only
    told = [m for m in mails("officer1@lancashire.police.uk") if "closed" in str(m["Subject"])]
    assert len(told) == 1 and ref in str(told[0]["Subject"])
    assert "plan delivered" not in told[0].get_content()


async def test_staff_mail_reads_as_english(make_hub: Any) -> None:
    from hub.domain.requests import RequestEvent
    from hub.services.info_requests.answers import store_answer
    from tests.support.agencies import AGENCIES

    hub = await make_hub(agencies=AGENCIES, alerts={"team_leaders": ["tl@team.example"]})
    ctx = hub.ctx
    ref = (await ingest_batch(ctx, [InboundItem("k:1", "m", referral(1))]))[0].case_ref
    assert ref is not None
    await casework.allocate(ctx, ref, "cc@team.example", "tl")
    created = await info_requests.create_request(ctx, case_ref=ref, agency_slug=SCHOOL, actor="cc")
    await store_answer(
        ctx,
        created.id,
        channel="email",
        kind="answered",
        content={"text": "Known to us."},
        dedupe_key="t",
        actor="t",
        event=RequestEvent.ANSWER_BY_EMAIL,
    )
    await hub.deliver()
    texts = [env.message.decode("utf-8", "replace") for env in hub.sender.sent]
    assert "A new MARRAC case is awaiting allocation." in "".join(texts)
    assert not [t for t in texts if "case is needs triage" in t]
    answered = [t for t in texts if f"{created.ref}: the agency answered" in t]
    assert answered and "(answered, by email)" not in "".join(texts)
    assert "the agency answered, by email" in answered[0]
