"""Servers go away and come back: intake resumes by itself, mail waits and goes once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub.clock import SystemClock
from hub.runtime import intake_loop, outbox_loop
from hub.services.context import Context
from hub.store.models import Case, OutboxMessage
from tests.support.fault_proxy import FaultProxy
from tests.support.hub import REFERRALS, settings_dict, wait_until, write_config
from tests.support.hubs import HubFactory, Ports
from tests.support.processes import start_hub
from tests.support.referrals import referral


async def case_count(ctx: Context) -> int:
    async with ctx.sessions() as s, s.begin():
        return len((await s.scalars(select(Case.id))).all())


async def outbox_states(ctx: Context) -> Counter[str]:
    async with ctx.sessions() as s, s.begin():
        return Counter((await s.scalars(select(OutboxMessage.state))).all())


@contextlib.asynccontextmanager
async def running(ctx: Context, *, outbox: bool = True) -> Any:
    wake = asyncio.Event()
    tasks = [asyncio.create_task(intake_loop(ctx, wake))]
    if outbox:
        tasks.append(asyncio.create_task(outbox_loop(ctx, wake)))
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


def received_once(smtp: Any, ctx_ids: list[str]) -> None:
    got = Counter(m["Message-ID"] for m in smtp.messages())
    assert set(got) == set(ctx_ids)
    assert set(got.values()) == {1}, f"doubled: {[k for k, v in got.items() if v > 1]}"


async def message_ids(ctx: Context) -> list[str]:
    async with ctx.sessions() as s, s.begin():
        return list((await s.scalars(select(OutboxMessage.message_id))).all())


async def test_intake_resumes_by_itself_after_the_imap_server_comes_back(
    mail_stack: Any, make_hub: HubFactory
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    ctx = (await make_hub(edges=mail_stack, clock=SystemClock())).ctx
    async with running(ctx) as tasks:
        for n in range(3):
            dovecot.append(REFERRALS, referral(n))
        await wait_until(lambda: case_count(ctx), what="first cases")
        await wait_until(lambda: _eq(case_count(ctx), 3), what="3 cases")
        # When the IMAP server stops for a while, with mail arriving as it comes back
        dovecot.stop()
        await asyncio.sleep(2.5)  # the outage itself: real time the hub must sit through
        assert not any(t.done() for t in tasks)
        dovecot.start()
        for n in range(3, 6):
            dovecot.append(REFERRALS, referral(n))
        # Then intake reconnects on its own and takes the new mail
        await wait_until(lambda: _eq(case_count(ctx), 6), timeout=30, what="6 cases")
        await wait_until(lambda: _sent(ctx, 12), timeout=30, what="12 mails sent")
        assert not any(t.done() for t in tasks)
    received_once(smtp, await message_ids(ctx))


async def _eq(value: Any, expected: int) -> bool:
    return (await value) == expected


async def _sent(ctx: Context, n: int) -> bool:
    return (await outbox_states(ctx)) == Counter({"sent": n})


async def test_mail_waits_in_the_outbox_while_smtp_is_down_and_goes_once(
    mail_stack: Any, make_hub: HubFactory
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    ctx = (await make_hub(edges=mail_stack, clock=SystemClock())).ctx
    smtp.stop()
    try:
        async with running(ctx):
            for n in range(4):
                dovecot.append(REFERRALS, referral(n))
            await wait_until(lambda: _eq(case_count(ctx), 4), what="4 cases")
            await asyncio.sleep(1.5)  # several delivery attempts fail meanwhile
            states = await outbox_states(ctx)
            assert states["sent"] == 0 and sum(states.values()) == 8
            smtp.start()
            await wait_until(lambda: _sent(ctx, 8), timeout=30, what="8 mails sent")
    finally:
        if not smtp.running:
            smtp.start()
    received_once(smtp, await message_ids(ctx))


async def test_connections_cut_mid_transfer_lose_and_double_nothing(
    mail_stack: Any, make_hub: HubFactory
) -> None:
    dovecot, smtp = mail_stack.dovecot, mail_stack.smtp
    imap_proxy = FaultProxy("127.0.0.1", dovecot.imap_port)
    smtp_proxy = FaultProxy("127.0.0.1", smtp.port)
    edges = Ports(imap_port=imap_proxy.port, smtp_port=smtp_proxy.port)
    ctx = (await make_hub(edges=edges, clock=SystemClock())).ctx
    try:
        # Given big referrals whose fetch is cut part-way, and an SMTP link cut mid-DATA
        padding = "x" * 200_000
        for n in range(5):
            dovecot.append(REFERRALS, referral(n, summary=padding))
        imap_proxy.cut_after_bytes(150_000)
        smtp_proxy.cut_after_bytes(100)  # mid-session, before any DATA
        async with running(ctx):
            await wait_until(lambda: _eq(case_count(ctx), 5), timeout=30, what="5 cases")
            smtp_proxy.cut()
            await wait_until(lambda: _sent(ctx, 10), timeout=30, what="10 mails sent")
        assert imap_proxy.total_connections >= 2, "the IMAP cut forced a reconnect"
    finally:
        imap_proxy.stop()
        smtp_proxy.stop()
    assert dovecot.count(REFERRALS, "Processed") == 5
    received_once(smtp, await message_ids(ctx))


async def test_a_web_port_in_use_does_not_stop_intake(
    mail_stack: Any, tmp_path: Path, make_hub: HubFactory
) -> None:
    import signal
    import socket

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    # The process serves this hub's directory on the mail stack; the test only reads it.
    hub = await make_hub(edges=Ports(), clock=SystemClock())
    ctx = hub.ctx
    raw = settings_dict(
        hub.settings.hub.data_dir,
        hub.settings.database.url,
        imap_port=mail_stack.dovecot.imap_port,
        smtp_port=mail_stack.smtp.port,
        web={"port": port},
    )
    config = write_config(tmp_path / "hub.toml", raw)
    log = tmp_path / "hub.log"
    proc = start_hub(config, log)
    try:
        mail_stack.dovecot.append(REFERRALS, referral(1))
        await wait_until(lambda: _eq(case_count(ctx), 1), timeout=30, what="the case")
        await wait_until(
            lambda: "event=web.failed error=OSError" in log.read_text(),
            what="the web failure logged",
        )
        assert proc.poll() is None, "the hub must keep running"
        # Issue 8: the clash names the address, so an operator knows which port to free.
        assert f"event=web.cannot_listen host=127.0.0.1 port={port}" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()[-2000:]
        squatter.close()
