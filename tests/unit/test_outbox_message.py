"""Outgoing mail is well formed and cannot be bent by text that came from a referral."""

import email
import email.policy
from datetime import UTC, datetime

from hub.domain.notices import Notice
from hub.mail.outgoing import build_message

FROM = "marrac@hub.test"
DATE = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_a_line_break_in_a_subject_cannot_add_a_header() -> None:
    notice = Notice(
        "ack",
        "a@lancashire.police.uk",
        "Ref LC-1\r\nBcc: evil@evil.example",
        "body\n",
        "k",
        in_reply_to="<x@y>\r\nBcc: evil@evil.example",
    )
    msg = parse(build_message(FROM, notice, "<m@hub.test>", DATE))
    assert msg["Bcc"] is None
    assert msg["In-Reply-To"] is None  # not a single clean Message-ID: not echoed
    assert msg["Subject"] == "Ref LC-1 Bcc: evil@evil.example"


def test_non_ascii_subject_and_body_survive_the_round_trip() -> None:
    notice = Notice(
        "ack",
        "a@lancashire.police.uk",
        "Référence Zoë",
        "Zoë’s case\nline 2\n",
        "k",
        in_reply_to="<179566670427.11210@lancashire.police.uk>",
    )
    msg = parse(build_message(FROM, notice, "<m@hub.test>", DATE))
    assert msg["Subject"] == "Référence Zoë"
    assert msg.get_content().replace("\r\n", "\n") == "Zoë’s case\nline 2\n"
    assert msg["In-Reply-To"] == "<179566670427.11210@lancashire.police.uk>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == "<m@hub.test>"
