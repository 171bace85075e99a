"""The allowlist and Authentication-Results rules: who may open a case."""

import pytest

from hub.domain.senders import authenticated, is_allowlisted, judge_sender

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
