"""The allowlist and Authentication-Results rules: who may open a case."""

import pytest

from hub.domain.senders import (
    SenderTrust,
    authenticated,
    is_allowlisted,
    judge_reply_sender,
    judge_sender,
    sender_trust,
)

ALLOWED = ("lancashire.police.uk", "duty.inspector@cumbria.police.uk")


@pytest.mark.parametrize(
    "sender",
    [
        "sarah.holt@lancashire.police.uk",
        "Sarah.Holt@LANCASHIRE.POLICE.UK",
        "duty.inspector@cumbria.police.uk",
    ],
)
def test_allowlisted_addresses_and_exact_domains_pass(sender: str) -> None:
    assert is_allowlisted(sender, ALLOWED)


@pytest.mark.parametrize(
    "sender",
    [
        "x@lancashire-police.uk",  # look-alike
        "x@lancashire.police.uk.evil.example",  # suffix trick
        "x@evil-lancashire.police.uk",
        "x@sub.lancashire.police.uk",  # sub-domains are not implied
        "x@lancashire.po1ice.uk",
        "other@cumbria.police.uk",  # only that one address is allowed there
        "lancashire.police.uk",
        "@lancashire.police.uk",
        "",
    ],
)
def test_look_alikes_and_subdomains_are_refused(sender: str) -> None:
    assert not is_allowlisted(sender, ALLOWED)


def test_no_trusted_server_means_allowlist_alone_decides() -> None:
    assert judge_sender("a@lancashire.police.uk", ALLOWED, (), "").allowed
    assert judge_sender(None, ALLOWED, (), "").reason == "no sender address"


AUTH = "mx.hub.test"


def test_dmarc_pass_from_the_trusted_server_is_accepted() -> None:
    h = (
        "mx.hub.test; dmarc=pass (p=reject) header.from=lancashire.police.uk; "
        "dkim=pass header.d=lancashire.police.uk",
    )
    assert authenticated("a@lancashire.police.uk", h, AUTH).allowed


def test_dmarc_fail_is_refused_even_with_dkim_pass() -> None:
    h = (
        "mx.hub.test; dkim=pass header.d=lancashire.police.uk; "
        "dmarc=fail header.from=lancashire.police.uk",
    )
    verdict = authenticated("a@lancashire.police.uk", h, AUTH)
    assert not verdict.allowed and "dmarc=fail" in verdict.reason


def test_a_forged_header_from_another_server_is_ignored() -> None:
    h = ("evil.example; dmarc=pass header.from=lancashire.police.uk",)
    assert not authenticated("a@lancashire.police.uk", h, AUTH).allowed


def test_without_dmarc_policy_aligned_dkim_or_spf_is_enough() -> None:
    dkim = (
        "mx.hub.test; dmarc=none header.from=lancashire.police.uk; "
        "dkim=pass header.d=lancashire.police.uk",
    )
    spf = ("mx.hub.test; spf=pass smtp.mailfrom=bounce@lancashire.police.uk",)
    assert authenticated("a@lancashire.police.uk", dkim, AUTH).allowed
    assert authenticated("a@lancashire.police.uk", spf, AUTH).allowed


def test_unaligned_dkim_pass_does_not_count() -> None:
    h = ("mx.hub.test; dkim=pass header.d=mailer.example; spf=fail",)
    assert not authenticated("a@lancashire.police.uk", h, AUTH).allowed


def test_comments_cannot_smuggle_a_verdict() -> None:
    h = (
        "mx.hub.test; dmarc=fail (dmarc=pass header.from=lancashire.police.uk) "
        "header.from=lancashire.police.uk",
    )
    assert not authenticated("a@lancashire.police.uk", h, AUTH).allowed


def test_without_a_trusted_server_the_hub_reads_mail_only_when_told_to() -> None:
    assert sender_trust("", allow_unauthenticated=False) is SenderTrust.REFUSED
    assert sender_trust("  ", allow_unauthenticated=False) is SenderTrust.REFUSED
    assert sender_trust("", allow_unauthenticated=True) is SenderTrust.UNAUTHENTICATED
    assert sender_trust("mx.hub.test", allow_unauthenticated=False) is SenderTrust.AUTHENTICATED
    assert sender_trust("mx.hub.test", allow_unauthenticated=True) is SenderTrust.AUTHENTICATED


GP = ("safeguarding.gp@hub.test",)


@pytest.mark.parametrize(
    "sender",
    [
        "stranger@evil.example",
        "other@hub.test",  # the agency's domain is not enough: its mailboxes only
        "safeguarding.gp@hub.test.evil.example",
        "",
        None,
    ],
)
def test_a_reply_from_anyone_but_the_agencys_mailboxes_is_not_filed(sender: str | None) -> None:
    verdict = judge_reply_sender(sender, GP, (), "")
    assert not verdict.allowed and "reply" in verdict.reason
    assert "evil" not in verdict.reason  # reasons are stored and logged: no addresses


def test_a_reply_from_a_registered_mailbox_is_filed_any_case() -> None:
    assert judge_reply_sender("Safeguarding.GP@HUB.test", GP, (), "").allowed


def test_with_a_trusted_server_a_reply_must_also_be_authenticated() -> None:
    passed = ("mx.hub.test; dmarc=pass header.from=hub.test",)
    forged = ("mx.evil.example; dmarc=pass header.from=hub.test",)
    assert judge_reply_sender("safeguarding.gp@hub.test", GP, passed, AUTH).allowed
    refused = judge_reply_sender("safeguarding.gp@hub.test", GP, forged, AUTH)
    assert not refused.allowed and "not authenticated" in refused.reason
    assert not judge_reply_sender("stranger@evil.example", GP, passed, AUTH).allowed
