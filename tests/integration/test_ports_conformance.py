"""One suite, every implementation: the in-memory fakes behave like the real edges.

Each test runs against the in-memory source and sender (``connectors.memory``) and the
real ones (IMAP against the suite's Dovecot, Maildir on disk, SMTP against the suite's
SMTP server), so a test that uses a fake proves nothing the real edge would not do
(STYLE.md habit 7). The contracts are those of ``hub.ports``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from connectors.maildir import MaildirSender, MaildirSource
from connectors.memory import MemorySender, MemorySource
from hub.ports import Envelope, InboundItem, MailboxSource, MailSender, SendResult, Settled
from tests.support.hub import REFERRALS
from tests.support.hubs import HubFactory
from tests.support.mail_stack import MailStack
from tests.support.referrals import referral

SOURCES = ["memory", "maildir", "imap"]
SENDERS = ["memory", "maildir", "smtp"]
# The Maildir sender writes files: it never refuses a recipient nor fails for a while,
# so the refusal tests are not asked of it.
REFUSING = [name for name in SENDERS if name != "maildir"]
# Far beyond a loopback round trip, far below a test timeout.
PROMPT = 10.0
UNKNOWN = "nobody@hub.test"  # the test SMTP server refuses unknown hub.test users with 550


def message_ids(raws: list[bytes]) -> list[str]:
    parser = BytesHeaderParser()
    return [str(parser.parsebytes(raw)["Message-ID"]) for raw in raws]


def item_ids(items: list[InboundItem]) -> list[str]:
    return message_ids([item.raw for item in items])


# --- mailbox sources ----------------------------------------------------------------------


@dataclass
class SourceRig:
    """A source and the outside world around it: how mail arrives and where it goes."""

    source: MailboxSource
    # Deliver one message as the outside world does (blocking: run it in a thread).
    put: Callable[[bytes], None]
    # What a destination folder ("processed" or "quarantine") holds.
    held: Callable[[str], list[bytes]]
    # Wakes a waiter when mail arrives (IMAP IDLE, an event); otherwise it polls.
    wakes_on_mail: bool


def maildir_rig(path: Path) -> SourceRig:
    source = MaildirSource(path)
    counter = iter(range(1_000_000))

    def held(destination: str) -> list[bytes]:
        folder = path / f".{destination.capitalize()}" / "cur"
        return [p.read_bytes() for p in sorted(folder.iterdir())]

    def deliver(raw: bytes) -> None:
        # As a mail server delivers: write into tmp/, then rename into new/ (atomic).
        name = f"{next(counter):06d}.conformance"
        (path / "tmp" / name).write_bytes(raw)
        (path / "tmp" / name).rename(path / "new" / name)

    return SourceRig(source, deliver, held, False)


async def imap_rig(stack: MailStack, make_hub: HubFactory) -> SourceRig:
    """The IMAP source a test hub on the mail stack reads with."""
    hub = await make_hub(edges=stack)
    folders = {
        "processed": hub.settings.intake.processed_folder,
        "quarantine": hub.settings.intake.quarantine_folder,
    }
    return SourceRig(
        hub.source,
        lambda raw: stack.dovecot.append(REFERRALS, raw),
        lambda destination: stack.dovecot.fetch_all(REFERRALS, folders[destination]),
        True,
    )


@pytest.fixture(params=SOURCES)
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, make_hub: HubFactory
) -> AsyncIterator[SourceRig]:
    if request.param == "memory":
        memory = MemorySource()
        made = SourceRig(memory, memory.deliver, memory.folders.__getitem__, True)
    elif request.param == "maildir":
        made = maildir_rig(tmp_path / "inbox")
    else:
        made = await imap_rig(request.getfixturevalue("mail_stack"), make_hub)
    try:
        yield made
    finally:
        await made.source.close()


async def put(rig: SourceRig, *numbers: int) -> list[str]:
    """Deliver referrals ``numbers`` one after the other; their Message-IDs."""
    raws = [referral(n) for n in numbers]
    for raw in raws:
        await asyncio.to_thread(rig.put, raw)
    return message_ids(raws)


async def held(rig: SourceRig, destination: str) -> list[str]:
    return message_ids(await asyncio.to_thread(rig.held, destination))


async def test_fetch_returns_the_oldest_first_up_to_the_limit(rig: SourceRig) -> None:
    sent = await put(rig, 1, 2, 3, 4, 5)
    items = await rig.source.fetch(3)
    assert item_ids(items) == sent[:3]
    assert {item.mailbox for item in items} == {rig.source.name}
    assert len({item.source_key for item in items}) == 3


async def test_nothing_is_removed_before_it_is_acknowledged(rig: SourceRig) -> None:
    sent = await put(rig, 1, 2)
    first = await rig.source.fetch(10)
    again = await rig.source.fetch(10)
    assert [i.source_key for i in again] == [i.source_key for i in first]
    # Not even by a lost connection: a closed source reads the same mail again
    await rig.source.close()
    assert item_ids(await rig.source.fetch(10)) == sent
    assert await held(rig, "processed") == []
    assert await held(rig, "quarantine") == []


async def test_acknowledged_mail_is_not_fetched_again_and_lands_in_its_folder(
    rig: SourceRig,
) -> None:
    sent = await put(rig, 1, 2, 3)
    items = await rig.source.fetch(10)
    await rig.source.acknowledge([Settled(items[0], "processed"), Settled(items[1], "quarantine")])
    assert item_ids(await rig.source.fetch(10)) == sent[2:]
    assert await held(rig, "processed") == sent[:1]
    assert await held(rig, "quarantine") == sent[1:2]


async def test_acknowledging_nothing_changes_nothing(rig: SourceRig) -> None:
    sent = await put(rig, 1)
    await rig.source.acknowledge([])
    assert item_ids(await rig.source.fetch(10)) == sent


async def test_wait_for_mail_returns_after_the_timeout_when_nothing_comes(
    rig: SourceRig,
) -> None:
    assert await rig.source.fetch(10) == []
    started = time.monotonic()
    async with asyncio.timeout(PROMPT):
        await rig.source.wait_for_mail(0.5)
    assert time.monotonic() - started >= 0.4


async def test_wait_for_mail_returns_when_mail_arrives(rig: SourceRig) -> None:
    # Given a waiter on an empty mailbox (a source that only polls waits one interval)
    assert await rig.source.fetch(10) == []
    waiting = asyncio.create_task(rig.source.wait_for_mail(60 if rig.wakes_on_mail else 1))
    await asyncio.sleep(0.3)  # let the waiter start waiting (IMAP: enter IDLE)
    # When mail arrives
    sent = await put(rig, 7)
    # Then the waiter returns promptly and the mail is there to fetch
    async with asyncio.timeout(PROMPT):
        await waiting
    assert item_ids(await rig.source.fetch(10)) == sent


async def test_close_is_idempotent(rig: SourceRig) -> None:
    await rig.source.close()  # never used
    await put(rig, 1)
    await rig.source.fetch(10)
    await rig.source.close()
    await rig.source.close()


# --- mail senders -------------------------------------------------------------------------


@dataclass
class SenderRig:
    """A sender and the far end: what it accepted, and how to make it refuse."""

    sender: MailSender
    # Message-IDs the far end accepted, in order.
    accepted: Callable[[], list[str]]
    # Make ``recipient`` unknown there (refused 550 at RCPT); None: it cannot refuse.
    refuse_unknown: Callable[[str], None] | None
    # Answer the next message with a temporary failure (451); None: it cannot.
    fail_next: Callable[[], None] | None

    def refusing(self) -> tuple[Callable[[str], None], Callable[[], None]]:
        """How to make the far end refuse: a sender in REFUSING has both."""
        assert self.refuse_unknown is not None and self.fail_next is not None
        return self.refuse_unknown, self.fail_next


def maildir_sender_rig(path: Path) -> SenderRig:
    def accepted() -> list[str]:
        # Files are named by outbox id: their order is the sending order.
        return message_ids([p.read_bytes() for p in sorted((path / "new").iterdir())])

    return SenderRig(MaildirSender(path), accepted, None, None)


async def smtp_sender_rig(stack: MailStack, make_hub: HubFactory) -> SenderRig:
    """The SMTP sender a test hub on the mail stack sends with."""
    hub = await make_hub(edges=stack)
    return SenderRig(
        hub.sender,
        lambda: [str(m["Message-ID"]) for m in stack.smtp.messages()],
        lambda _recipient: None,  # the server itself refuses unknown hub.test users
        lambda: stack.smtp.fail_next(1, 451),
    )


@pytest.fixture(params=SENDERS)
async def sender_rig(
    request: pytest.FixtureRequest, tmp_path: Path, make_hub: HubFactory
) -> SenderRig:
    if request.param == "memory":
        memory = MemorySender()
        return SenderRig(
            memory,
            lambda: message_ids([e.message for e in memory.sent]),
            memory.refuse,
            lambda: memory.refuse_next(1, 451),
        )
    if request.param == "maildir":
        return maildir_sender_rig(tmp_path / "sent")
    return await smtp_sender_rig(request.getfixturevalue("mail_stack"), make_hub)


def envelope(n: int, recipient: str | None = None) -> Envelope:
    msg = EmailMessage()
    msg["From"] = "marrac-hub@hub.test"
    msg["To"] = recipient or f"agency{n}@agency.example"
    msg["Subject"] = f"Conformance {n}"
    msg["Message-ID"] = f"<conformance-{n}@hub.test>"
    msg.set_content(f"Message {n}.\n")
    return Envelope(n, "marrac-hub@hub.test", str(msg["To"]), msg.as_bytes())


async def send(rig: SenderRig, envelopes: list[Envelope]) -> list[tuple[Envelope, SendResult]]:
    results: list[tuple[Envelope, SendResult]] = []

    async def on_result(env: Envelope, result: SendResult) -> None:
        results.append((env, result))

    await rig.sender.send_many(envelopes, on_result)
    return results


def mid(env: Envelope) -> str:
    return message_ids([env.message])[0]


async def test_each_envelope_gets_exactly_one_result_in_order(sender_rig: SenderRig) -> None:
    envelopes = [envelope(n) for n in (1, 2, 3)]
    results = await send(sender_rig, envelopes)
    assert [env for env, _ in results] == envelopes
    assert [(r.ok, r.code, r.temporary) for _, r in results] == [(True, 250, False)] * 3
    assert await asyncio.to_thread(sender_rig.accepted) == [mid(e) for e in envelopes]


async def test_an_empty_batch_gives_no_results(sender_rig: SenderRig) -> None:
    assert await send(sender_rig, []) == []
    assert await asyncio.to_thread(sender_rig.accepted) == []


@pytest.mark.parametrize("sender_rig", REFUSING, indirect=True)
async def test_a_refused_recipient_gets_its_code_and_the_rest_still_go(
    sender_rig: SenderRig,
) -> None:
    refuse_unknown, _ = sender_rig.refusing()
    refuse_unknown(UNKNOWN)
    envelopes = [envelope(1), envelope(2, UNKNOWN), envelope(3)]
    results = await send(sender_rig, envelopes)
    assert [env for env, _ in results] == envelopes
    assert [(r.ok, r.code, r.temporary) for _, r in results] == [
        (True, 250, False),
        (False, 550, False),
        (True, 250, False),
    ]
    assert results[1][1].reply  # the server's words, for the log and the alert
    assert await asyncio.to_thread(sender_rig.accepted) == [mid(envelopes[0]), mid(envelopes[2])]


@pytest.mark.parametrize("sender_rig", REFUSING, indirect=True)
async def test_a_temporary_refusal_is_temporary_and_the_rest_still_go(
    sender_rig: SenderRig,
) -> None:
    _, fail_next = sender_rig.refusing()
    fail_next()
    envelopes = [envelope(n) for n in (1, 2, 3)]
    results = await send(sender_rig, envelopes)
    assert [env for env, _ in results] == envelopes
    assert [(r.ok, r.code, r.temporary) for _, r in results] == [
        (False, 451, True),
        (True, 250, False),
        (True, 250, False),
    ]
    assert await asyncio.to_thread(sender_rig.accepted) == [mid(e) for e in envelopes[1:]]
