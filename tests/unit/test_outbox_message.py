"""Outgoing mail is well formed and cannot be bent by text that came from a referral."""

import email
import email.policy
from pathlib import Path

from hub.config import for_tests
from hub.crypto import keys
from hub.crypto.indexes import Indexer
from hub.crypto.sealing import Sealer
from hub.domain.notices import Notice
from hub.services.context import Context
from hub.services.outbox import build_message


def context(tmp_path: Path) -> Context:
    keys.generate(tmp_path / "keys")
    ring = keys.load(tmp_path / "keys")
    from hub.clock import SystemClock

    return Context(for_tests(tmp_path), SystemClock(), None, None, Sealer(ring), Indexer(ring))  # type: ignore[arg-type]


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_a_line_break_in_a_subject_cannot_add_a_header(tmp_path: Path) -> None:
    notice = Notice(
        "ack",
        "a@lancashire.police.uk",
        "Ref LC-1\r\nBcc: evil@evil.example",
        "body\n",
        "k",
        in_reply_to="<x@y>\r\nBcc: evil@evil.example",
    )
    msg = parse(build_message(context(tmp_path), notice, "<m@hub.test>"))
    assert msg["Bcc"] is None
    assert msg["In-Reply-To"] is None  # not a single clean Message-ID: not echoed
    assert msg["Subject"] == "Ref LC-1 Bcc: evil@evil.example"


def test_non_ascii_subject_and_body_survive_the_round_trip(tmp_path: Path) -> None:
    notice = Notice(
        "ack",
        "a@lancashire.police.uk",
        "Référence Zoë",
        "Zoë’s case\nline 2\n",
        "k",
        in_reply_to="<179566670427.11210@lancashire.police.uk>",
    )
    msg = parse(build_message(context(tmp_path), notice, "<m@hub.test>"))
    assert msg["Subject"] == "Référence Zoë"
    assert msg.get_content().replace("\r\n", "\n") == "Zoë’s case\nline 2\n"
    assert msg["In-Reply-To"] == "<179566670427.11210@lancashire.police.uk>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == "<m@hub.test>"
