"""Duplicate detection survives redelivery: trace headers do not change the fingerprint."""

from hub.mail import content_fingerprint

BASE = b"From: a@lancashire.police.uk\r\nSubject: x\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"


def test_new_received_lines_do_not_change_the_fingerprint() -> None:
    redelivered = (
        b"Return-Path: <a@lancashire.police.uk>\r\nDelivered-To: r@hub.test\r\n"
        b"Received: from mx by hub\r\n\tid 123; Thu, 26 Nov 2026 05:00:00 +0000\r\n" + BASE
    )
    assert content_fingerprint(redelivered) == content_fingerprint(BASE)


def test_a_changed_body_or_header_changes_the_fingerprint() -> None:
    assert content_fingerprint(BASE.replace(b"body", b"bodY")) != content_fingerprint(BASE)
    assert content_fingerprint(BASE.replace(b"Subject: x", b"Subject: y")) != content_fingerprint(
        BASE
    )
