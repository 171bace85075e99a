"""Every stage parks, replays and lives on (issue 8): each stage parks a failing item
under its own name and replays it through its own code; the outbox and the sweep park
one bad row and carry on; a late sender cannot overwrite its successor's row; a server
that refuses the hub pauses delivery instead of failing the mail; and every loop
survives an unexpected exception, alerting once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

import hub.runtime as runtime
import hub.services.replies as replies
from connectors.memory import MemorySender, MemorySource
from connectors.smtp import SmtpSender
from hub.cli.parked import REPLAY
from hub.clock import FrozenClock, SystemClock
from hub.domain.notices import Notice
from hub.ports import Envelope, OnResult, SendResult, SessionRefused
from hub.services import outbox, parked, sweep
from hub.services.context import Context
from hub.store.models import Case, Milestone, OutboxMessage, UnmatchedReply
from hub.supervision import Jobs
from tests.support.hub import wait_until
from tests.support.hubs import HubFactory, TestHub
from tests.support.referrals import referral

QUICK = {
    "intake": {"reconnect_max_seconds": 0.2, "poll_seconds": 0.2},
    "outbox": {"backoff_max_seconds": 0.2, "backoff_first_seconds": 0.1, "poll_seconds": 0.2},
}


async def count(ctx: Context, model: Any, *where: Any) -> int:
    async with ctx.sessions() as s, s.begin():
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def alerts(ctx: Context, kind: str) -> int:
    return await count(ctx, OutboxMessage, OutboxMessage.kind == kind)


async def queue(ctx: Context, n: int) -> None:
    async with ctx.sessions() as s, s.begin():
        for i in range(n):
            await outbox.enqueue(
                s,
                ctx,
                Notice(
                    kind="test",
                    recipient=f"someone{i}@example.org",
                    subject=f"note {i}",
                    body="hello\n",
                    dedupe_key=f"test:{i}",
                ),
            )


async def rows(ctx: Context) -> list[OutboxMessage]:
    async with ctx.sessions() as s, s.begin():
        found = await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(found.all())


@contextlib.asynccontextmanager
async def running(*loops: Awaitable[None]) -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


# -- 1. each stage parks under its own name and replays through its own code ---------


async def test_a_failing_reply_is_parked_as_a_reply_and_replayed_as_one(
    make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = await make_hub()
    ctx = hub.ctx
    box = MemorySource("memory:replies")
    box.deliver(referral(1))  # a referral-shaped mail, sent to the replies mailbox
    broken = {"on": True}
    real_read = replies.read_replies

    async def read(ctx: Any, raws: list[bytes]) -> Any:
        if broken["on"]:
            raise RuntimeError("a bug in filing replies")
        return await real_read(ctx, raws)

    monkeypatch.setattr(replies, "read_replies", read)
    report = await runtime.drain(ctx, box, record=runtime.file_replies)
    assert report.parked == 1
    [item] = await parked.list_parked(ctx)
    assert item["stage"] == "replies"
    # When the bug is fixed and the item replayed, it is filed as a reply (unmatched:
    # it names no request), never read as a referral that opens a case.
    broken["on"] = False
    stage, key, payload = await parked.take_for_retry(ctx, int(str(item["id"])), "test")
    assert await REPLAY[stage](ctx, key, payload) is not None
    assert await count(ctx, UnmatchedReply) == 1
    assert await count(ctx, Case) == 0


# -- 2. the outbox and the sweep park one bad item and carry on -----------------------


async def test_the_outbox_parks_a_row_it_cannot_open_and_sends_the_rest(
    make_hub: HubFactory,
) -> None:
    hub = await make_hub()
    ctx = hub.ctx
    await queue(ctx, 3)
    bad = (await rows(ctx))[1]
    async with ctx.sessions() as s, s.begin():
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == bad.id)
            .values(message_sealed=b"not a sealed value")
        )
    assert await hub.deliver() == 3  # the two others, and the parked alert
    states = {r.id: r.state for r in await rows(ctx)}
    assert states[bad.id] == "parked"
    [item] = await parked.list_parked(ctx)
    assert (item["stage"], item["item"]) == ("outbox", f"outbox:{bad.id}")
    assert await alerts(ctx, "alert:parked") == 1
    # Nothing more is tried: the parked row stays out of delivery.
    hub.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    assert await hub.deliver() == 0
    assert {r.id: r.state for r in await rows(ctx)}[bad.id] == "parked"
    # Replayed once repaired, through the outbox: it is sent.
    async with ctx.sessions() as s, s.begin():
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == bad.id)
            .values(message_sealed=ctx.sealer.seal(b"Subject: x\r\n\r\nrepaired\r\n"))
        )
    _, key, _ = await parked.take_for_retry(ctx, int(str(item["id"])), "test")
    await outbox.requeue(ctx, int(key.removeprefix("outbox:")))
    assert await hub.deliver() == 1
    assert await outbox.state_of(ctx, bad.id) == "sent"


class RaisesOnce:
    """An in-memory sender whose second message meets a bug in the sender, once."""

    def __init__(self) -> None:
        self.inner = MemorySender()
        self.raised = False

    async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
        if self.raised or len(envelopes) < 2:
            await self.inner.send_many(envelopes, on_result)
            return
        self.raised = True
        await self.inner.send_many(envelopes[:1], on_result)
        raise RuntimeError("a bug in the sender")


async def test_a_sender_that_raises_parks_the_message_in_flight_and_the_loop_goes_on(
    make_hub: HubFactory,
) -> None:
    hub = await make_hub(clock=SystemClock(), **QUICK)  # the released rows retry soon
    ctx = hub.ctx
    await queue(ctx, 4)
    sender = RaisesOnce()
    async with running(runtime.outbox_loop(ctx, asyncio.Event(), sender)) as tasks:
        # 3 sent; the one in flight parked; then its parked alert sent too.
        await wait_until(lambda: len(sender.inner.sent) == 4, what="the rest sent")
        assert not tasks[0].done()
    assert [i["stage"] for i in await parked.list_parked(ctx)] == ["outbox"]
    assert await alerts(ctx, "alert:parked") == 1


async def cases_with_milestones(hub: TestHub, n: int) -> list[Milestone]:
    assert isinstance(hub.source, MemorySource)
    for i in range(n):
        hub.source.deliver(referral(i))
    await hub.drain()
    async with hub.ctx.sessions() as s, s.begin():
        return list((await s.scalars(select(Milestone).order_by(Milestone.id))).all())


async def test_one_bad_sweep_row_is_parked_and_its_batch_goes_on(make_hub: HubFactory) -> None:
    hub = await make_hub()
    ctx = hub.ctx
    clock = hub.clock
    assert isinstance(clock, FrozenClock)
    milestones = await cases_with_milestones(hub, 3)
    bad = milestones[0]
    async with ctx.sessions() as s, s.begin():
        await s.execute(update(Milestone).where(Milestone.id == bad.id).values(kind="no-such"))
    clock.advance(timedelta(days=30))
    report = await sweep.sweep(ctx)
    assert report.parked == [f"milestone:{bad.id}"]
    assert report.milestones >= 3 and report.mails > 0, "the rest of the batch was sent"
    [item] = await parked.list_parked(ctx)
    assert (item["stage"], item["item"]) == ("sweep", f"milestone:{bad.id}")
    # The next sweep does not park it again (nor alert again).
    clock.advance(timedelta(minutes=1))
    assert (await sweep.sweep(ctx)).parked == []
    assert await alerts(ctx, "alert:parked") == 1
    # Replayed through the sweep while still broken: parked anew; once repaired: swept.
    assert await REPLAY["sweep"](ctx, f"milestone:{bad.id}", None) is None
    async with ctx.sessions() as s, s.begin():
        await s.execute(update(Milestone).where(Milestone.id == bad.id).values(kind=bad.kind))
    assert await REPLAY["sweep"](ctx, f"milestone:{bad.id}", None) == f"milestone:{bad.id} swept"


# -- 3. only the latest claim settles a row -------------------------------------------


async def test_a_sender_that_outlived_its_lease_cannot_overwrite_its_successor(
    make_hub: HubFactory,
) -> None:
    hub = await make_hub()
    ctx = hub.ctx
    clock = hub.clock
    assert isinstance(clock, FrozenClock)
    await queue(ctx, 1)
    a_claimed, b_claimed, a_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    class Late:  # claims, stalls past its lease, then hears a 451
        async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
            clock.advance(timedelta(seconds=ctx.settings.outbox.lease_seconds + 1))
            a_claimed.set()
            await b_claimed.wait()
            await on_result(envelopes[0], SendResult(False, 451, "4.3.0 try later"))

    class Successor(MemorySender):  # takes the row over and sends it, after A settles
        async def send_many(self, envelopes: list[Envelope], on_result: OnResult) -> None:
            b_claimed.set()
            await a_done.wait()
            await super().send_many(envelopes, on_result)

    a = asyncio.create_task(outbox.deliver_due(ctx, Late()))
    await a_claimed.wait()
    successor = Successor()
    b = asyncio.create_task(outbox.deliver_due(ctx, successor))
    await a
    a_done.set()
    assert await b == 1
    [row] = await rows(ctx)
    assert row.state == "sent", "the late sender's 451 must not have put it back in the queue"
    clock.advance(timedelta(hours=1))
    assert await hub.deliver() == 0, "sent once, not again"


# -- 4. a server that refuses the hub pauses delivery and alerts once -----------------


@contextlib.asynccontextmanager
async def refusing_smtp() -> AsyncIterator[int]:
    """A server that answers every connection with 554 (RFC 5321 3.1: no service)."""

    async def greet(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"554 5.3.2 No SMTP service here\r\n")
        await w.drain()
        w.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_5xx_at_connect_pauses_delivery_and_alerts_once(make_hub: HubFactory) -> None:
    hub = await make_hub()
    ctx = hub.ctx
    clock = hub.clock
    assert isinstance(clock, FrozenClock)
    await queue(ctx, 3)
    async with refusing_smtp() as port:
        settings = dataclasses.replace(
            hub.settings.smtp, transport="smtp", host="127.0.0.1", port=port, security="plain"
        )
        sender = SmtpSender(settings)
        with pytest.raises(SessionRefused):
            await sender.send_many([Envelope(0, "a@hub.test", "b@hub.test", b"x")], _ignore)
        assert await outbox.deliver_due(ctx, sender) == 0
        states = [r.state for r in await rows(ctx)]
        assert states.count("failed") == 0 and states.count("pending") == 4  # 3 + the alert
        assert await alerts(ctx, "alert:delivery-paused") == 1
        assert all(r.attempts == 0 for r in await rows(ctx)), "no try was counted"
        # Paused: nothing is due until the pause ends; then refused again, no new alert.
        assert await outbox.deliver_due(ctx, sender) == 0
        clock.advance(timedelta(seconds=ctx.settings.outbox.pause_seconds + 1))
        assert await outbox.deliver_due(ctx, sender) == 0
        assert await alerts(ctx, "alert:delivery-paused") == 1
    # When the server lets the hub in again, everything goes.
    clock.advance(timedelta(seconds=ctx.settings.outbox.pause_seconds + 1))
    assert await hub.deliver() == 4


async def _ignore(_e: Envelope, _r: Any) -> None:
    raise AssertionError("a refused session reports no message")


# -- 5. no loop dies --------------------------------------------------------------------


class FetchFailsOnce(MemorySource):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.failed = False

    async def fetch(self, limit: int) -> list[Any]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug outside any message")
        return await super().fetch(limit)


@pytest.mark.parametrize("stage", ["intake", "replies"])
async def test_a_mailbox_loop_survives_an_unexpected_error_and_alerts_once(
    make_hub: HubFactory, stage: str
) -> None:
    hub = await make_hub(**QUICK)
    ctx = hub.ctx
    box = FetchFailsOnce(f"memory:{stage}")
    record = runtime.RECORD_OF[stage]
    loop = runtime.intake_loop(ctx, asyncio.Event(), lambda _s: box, record)
    async with running(loop) as tasks:
        box.deliver(referral(1))
        await wait_until(lambda: not box.inbox, what="the mail taken in after the error")
        assert not tasks[0].done()
    assert await alerts(ctx, "alert:outage") == 1


async def test_the_outbox_loop_survives_an_unexpected_error_and_alerts_once(
    make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = await make_hub(**QUICK)
    ctx = hub.ctx
    calls = {"n": 0}
    real = runtime.deliver_due

    async def deliver_due(ctx: Context, sender: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug outside any message")
        return await real(ctx, sender)

    monkeypatch.setattr(runtime, "deliver_due", deliver_due)
    sender = MemorySender()
    await queue(ctx, 2)
    async with running(runtime.outbox_loop(ctx, asyncio.Event(), sender)) as tasks:
        await wait_until(lambda: len(sender.sent) >= 2, what="mail sent after the error")
        assert not tasks[0].done()
    assert await alerts(ctx, "alert:outage") == 1


async def test_the_web_loop_survives_an_unexpected_error_and_alerts_once(
    make_hub: HubFactory,
) -> None:
    ctx = (await make_hub()).ctx
    started = asyncio.Event()
    runs = {"n": 0}

    async def web() -> None:
        runs["n"] += 1
        if runs["n"] == 1:
            raise RuntimeError("a bug in the web server")
        started.set()
        await asyncio.Event().wait()

    async with running(runtime.keep_running(ctx, "web", web, 0.2)) as tasks:
        await asyncio.wait_for(started.wait(), 20)
        assert not tasks[0].done()
    assert await alerts(ctx, "alert:outage") == 1


async def test_a_sweep_that_fails_is_alerted_once_and_run_again_soon(make_hub: HubFactory) -> None:
    ctx = (await make_hub()).ctx
    rescheduled: list[Any] = []

    class Scheduler:
        def modify_job(self, name: str, next_run_time: Any) -> None:
            rescheduled.append((name, next_run_time))

    jobs = Jobs(ctx, asyncio.Event(), set(), Scheduler())

    async def failing() -> bool:
        raise RuntimeError("a bug in the sweep")

    async def working() -> bool:
        return True

    job: Callable[[], Awaitable[bool]]
    for job in (failing, failing, working):
        await jobs.run("sweep", job)
    assert await alerts(ctx, "alert:outage") == 1, "once, however often it fails"
    assert [name for name, _ in rescheduled] == ["sweep", "sweep"]
    soon = ctx.clock.now() + timedelta(seconds=ctx.settings.scheduler.sweep_seconds)
    assert all(at <= soon for _, at in rescheduled)
    assert jobs.wake.is_set(), "the run after the failures went through"
