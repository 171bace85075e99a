"""The appendix's case study replayed hour by hour through the injectable clock, with real
Dovecot, SMTP and both databases: each warning, chase and escalation goes to the right
person at the right time, once; a missed 48-hour plan reaches the team leader."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.clock import FrozenClock
from hub.runtime import make_sender
from hub.services import casework, info_requests, links, sweep
from hub.services.outbox import deliver_due
from tests.support.agencies import ELSEWHERE, agencies
from tests.support.hub import FIXTURES, REFERRALS, TEAM_LEADER
from tests.support.hubs import build_hub

CC = "coordinator@hub.test"
# Thursday 12 March 2026, 01:40 GMT: the officer's referral reaches the hub.
DAY1 = datetime(2026, 3, 12, 1, 40, tzinfo=UTC)


async def tick(ctx: Any, clock: FrozenClock, hours: int = 1) -> None:
    for _ in range(hours):
        clock.advance(timedelta(hours=1))
        await sweep.sweep(ctx)
        await deliver_due(ctx, make_sender(ctx.settings))


async def test_case_study_timeline_hour_by_hour(
    mail_stack: Any, tmp_path: Path, db_url: str
) -> None:
    clock = FrozenClock(DAY1)
    directory = agencies(emails=ELSEWHERE)
    hub = await build_hub(tmp_path, db=db_url, edges=mail_stack, clock=clock, agencies=directory)
    ctx = hub.ctx
    try:
        mail_stack.dovecot.append(
            REFERRALS, (FIXTURES / "referrals/01-case-study.eml").read_bytes()
        )
        ref = (await hub.drain()).results[0].case_ref
        await hub.source.close()
        assert ref is not None
        # 08:15 the team leader allocates; 10:40 the co-ordinator asks school, GP and HV
        await tick(ctx, clock, 6)  # 07:40
        clock.advance(timedelta(minutes=35))
        await casework.allocate(ctx, ref, CC, "tl")
        await tick(ctx, clock, 2)  # 10:15
        clock.advance(timedelta(minutes=25))  # 10:40
        school = await info_requests.create_request(
            ctx, case_ref=ref, agency_slug="st-aidans-primary", actor=CC, urgency="urgent"
        )
        gp = await info_requests.create_request(
            ctx, case_ref=ref, agency_slug="larch-street-surgery", actor=CC, urgency="urgent"
        )
        hv = await info_requests.create_request(
            ctx, case_ref=ref, agency_slug="preston-health-visitors", actor=CC, urgency="urgent"
        )
        # The school answers that afternoon (before any reminder)
        await tick(ctx, clock, 3)  # 13:40
        assert await links.send_code(ctx, school.token, "t")
        await answer_with_code(ctx, mail_stack, school.token, "school@agency.example")
        # The HV answers one second before its chase would go out
        due_hv = hv.due_at
        await tick(ctx, clock, int((due_hv - clock.now()).total_seconds() // 3600) - 1)
        clock.set(due_hv - timedelta(seconds=1))
        assert await links.send_code(ctx, hv.token, "t")
        await answer_with_code(ctx, mail_stack, hv.token, "hv@agency.example")
        # Then sixteen more days hour by hour: the GP never answers, no plan is recorded
        # until day 4, the review is done on time.
        await tick(ctx, clock, 24 * 3)
        assert clock.now() > DAY1 + timedelta(hours=72)
        assert await casework.plan_agreed(ctx, ref, CC) == "missed-then-met"
        await tick(ctx, clock, 24 * 13 + 21)  # past both reminders, before it falls due
        assert await casework.reviewed(ctx, ref, "Medium", CC) == "met"
        await tick(ctx, clock, 24 * 2)

        sent = await sweep.alerts_sent(ctx)
        # Once each: no (subject, step, recipient) twice, and every mail delivered
        keys = Counter((a["subject"], a["step"], a["recipient"]) for a in sent)
        assert max(keys.values()) == 1
        assert {a["delivery"] for a in sent} == {"sent"}

        def steps(ref_: str, recipient: str | None = None) -> dict[str, datetime]:
            return {
                a["step"]: datetime.fromisoformat(a["queued_at"])
                for a in sent
                if a["subject_ref"] == ref_
                and a["kind"] == "plan-48h"
                and (recipient is None or a["recipient"] == recipient)
            }

        plan_cc = steps(ref, CC)
        plan_tl = steps(ref, TEAM_LEADER)
        # The 48-hour plan: reminders to the co-ordinator, then due and missed to the TL
        assert set(plan_cc) == {"warn-24h", "warn-4h", "due"}
        assert set(plan_tl) == {"due", "overdue-24h"}  # the missed plan reaches the TL
        due = DAY1 + timedelta(hours=48)
        for name, offset in (("warn-24h", -24), ("warn-4h", -4), ("due", 0)):
            at = plan_cc[name]
            assert due + timedelta(hours=offset) <= at < due + timedelta(hours=offset + 1)
        assert due + timedelta(hours=24) <= plan_tl["overdue-24h"] < due + timedelta(hours=25)

        # The review, done before it fell due: reminders only, nothing to the TL
        review = {(a["step"], a["recipient"]) for a in sent if a["kind"] == "review-2w"}
        assert review == {("warn-24h", CC), ("warn-4h", CC)}

        # Requests: the school answered before any chase, so it got none; the HV answered
        # one second before its chase: no chase; the GP was reminded, chased, escalated.
        by_request = Counter((a["subject_ref"], a["step"]) for a in sent if a["kind"] == "request")
        assert not [k for k in by_request if k[0] == school.ref]
        assert (hv.ref, "chase") not in by_request
        gp_steps = {step: a for (r, step), a in by_request.items() if r == gp.ref}
        assert set(gp_steps) == {
            "reminder",
            "chase",
            "escalate-coordinator",
            "escalate-team-leader",
        }
        gp_recipients = {(a["step"], a["recipient"]) for a in sent if a["subject_ref"] == gp.ref}
        assert ("escalate-coordinator", CC) in gp_recipients
        assert ("escalate-team-leader", TEAM_LEADER) in gp_recipients
        assert ("chase", "gp@agency.example") in gp_recipients
        # Agency mail only in its working hours (08:00-18:00 London, working days)
        for a in sent:
            if a["recipient"].endswith("@agency.example"):
                local = datetime.fromisoformat(a["due_at"]).astimezone(
                    __import__("zoneinfo").ZoneInfo("Europe/London")
                )
                assert local.weekday() < 5 and 8 <= local.hour < 18, a
        # Chase mails carry a working link and no personal data
        chases = [
            m
            for m in mail_stack.smtp.messages(to="gp@agency.example")
            if "chase" in str(m["Subject"])
        ]
        assert chases and "/r/" in chases[0].get_content()
        assert "Clarke" not in chases[0].get_content()
    finally:
        await ctx.close()


async def answer_with_code(ctx: Any, stack: Any, token: str, agency: str) -> None:
    import re

    await deliver_due(ctx, make_sender(ctx.settings))
    code_mail = [m for m in stack.smtp.messages(to=agency) if "one-time code" in str(m["Subject"])]
    code = re.search(r"\b(\d{6})\b", code_mail[-1].get_content()).group(1)  # type: ignore[union-attr]
    result = await links.verify_code(ctx, token, code, "t")
    assert result.grant is not None, result
    view = await links.view(ctx, result.grant, "t")
    outcome, _ = await links.submit(
        ctx,
        result.grant,
        links.Submission(
            kind="answered",
            answers=[
                {"question_id": q["id"], "known": True, "last_contact": None, "text": "ok"}
                for q in view["questions"]
            ],
        ),
        "t",
    )
    assert outcome == "stored"


# --- late sweeps describe the present (issue 8) ---------------------------------------------


def subjects(sender: Any, recipient: str) -> list[str]:
    import email
    import email.policy

    return [
        str(email.message_from_bytes(env.message, policy=email.policy.default)["Subject"])
        for env in sender.sent_to(recipient)
    ]


async def memory_case(make_hub: Any) -> tuple[Any, str]:
    from hub.ports import InboundItem
    from hub.services.intake import ingest_batch
    from tests.support.agencies import AGENCIES
    from tests.support.referrals import referral

    hub = await make_hub(agencies=AGENCIES)
    ref = (await ingest_batch(hub.ctx, [InboundItem("k:1", "m", referral(1))]))[0].case_ref
    assert ref is not None
    await casework.allocate(hub.ctx, ref, CC, "tl")
    return hub, ref


async def test_a_late_sweep_sends_only_the_step_true_now_worded_for_now(make_hub: Any) -> None:
    # Given a plan due 48 hours after the referral and a sweep that did not run until
    # an hour after it fell due
    hub, ref = await memory_case(make_hub)
    hub.clock.advance(timedelta(hours=49))
    await sweep.sweep(hub.ctx)
    await hub.deliver()
    # Then the co-ordinator gets one mail saying how late it is: no "due in 4 hours"
    # and "due now" beside it
    plan = [s for s in subjects(hub.sender, CC) if "plan-48h" in s]
    assert plan == [f"[MARRAC] {ref}: plan-48h 1 hour overdue"]
    # And the steps it replaced are done, never sent later
    hub.clock.advance(timedelta(hours=1))
    await sweep.sweep(hub.ctx)
    await hub.deliver()
    assert len([s for s in subjects(hub.sender, CC) if "plan-48h" in s]) == 1


async def test_an_agency_is_chased_before_its_coordinator_hears_it_is_overdue(
    make_hub: Any,
) -> None:
    from tests.support.agencies import MAILBOX, SCHOOL

    hub, ref = await memory_case(make_hub)
    # Given a request due (explicitly) at 20:00 on Friday, after the school has closed
    friday_night = datetime(2026, 3, 13, 20, 0, tzinfo=UTC)
    created = await info_requests.create_request(
        hub.ctx, case_ref=ref, agency_slug=SCHOOL, actor=CC, due_at=friday_night
    )
    # When the reminder goes on Friday morning, and Saturday night comes (24 hours after
    # the deadline): the co-ordinator is not told yet, because the school, closed since
    # Friday 18:00, has not been chased; nor is the school mailed at night
    hub.clock.set(datetime(2026, 3, 13, 8, 30, tzinfo=UTC))
    await sweep.sweep(hub.ctx)
    hub.clock.set(friday_night + timedelta(hours=25))
    await sweep.sweep(hub.ctx)
    await hub.deliver()
    assert not [s for s in subjects(hub.sender, CC) if created.ref in s]
    assert subjects(hub.sender, MAILBOX[SCHOOL])[-1] == (
        f"MARRAC request {created.ref}: reminder (due in 12 hours)"
    )
    # Then a sweep late on Tuesday chases the school first, saying how late it is, and
    # only then tells the co-ordinator
    hub.clock.set(datetime(2026, 3, 17, 10, 0, tzinfo=UTC))
    await sweep.sweep(hub.ctx)
    await hub.deliver()
    school = [s for s in subjects(hub.sender, MAILBOX[SCHOOL]) if "chase" in s]
    assert school == [f"MARRAC request {created.ref}: chase (3 days overdue)"]
    told = [s for s in subjects(hub.sender, CC) if created.ref in s]
    assert told == [f"[MARRAC] {created.ref} to St Aidan's Primary School is 3 days overdue"]
    late = [s for s in subjects_in_order(hub.sender) if "overdue" in s and created.ref in s]
    assert late == [school[0], told[0]]


def subjects_in_order(sender: Any) -> list[str]:
    import email
    import email.policy

    return [
        str(email.message_from_bytes(env.message, policy=email.policy.default)["Subject"])
        for env in sender.sent
    ]
