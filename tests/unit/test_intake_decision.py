"""The intake decision: machine mail first, then the sender, then completeness."""

from datetime import date

from hub.domain.intake import Outcome, case_reference, decide
from hub.domain.referral import Person, Referral, Referrer, Role
from hub.domain.senders import SenderVerdict

OK = SenderVerdict(True, "allowlisted")
STRANGER = SenderVerdict(False, "sender not on the allowlist")
CLEAN = Referral(
    source="form",
    force_reference="LC-1",
    referrer=Referrer(email="a@lancashire.police.uk"),
    victim=Person(Role.VICTIM, name="A B", date_of_birth=date(1990, 1, 1)),
)


def test_a_clean_referral_from_an_allowed_sender_opens_a_case() -> None:
    d = decide(CLEAN, None, OK)
    assert d.outcome == Outcome.CASE and d.opens_case and d.problems == ()


def test_machine_mail_wins_even_from_a_stranger() -> None:
    assert decide(CLEAN, "auto-submitted: auto-replied", STRANGER).outcome == Outcome.MACHINE


def test_a_stranger_is_quarantined_whatever_the_form_says() -> None:
    d = decide(CLEAN, None, STRANGER)
    assert d.outcome == Outcome.QUARANTINE and not d.opens_case


def test_missing_required_fields_need_triage_with_problems_listed() -> None:
    d = decide(Referral(source="form"), None, OK)
    assert d.outcome == Outcome.TRIAGE and d.opens_case
    assert "victim date of birth missing" in d.problems
    assert "force reference missing" in d.problems


def test_a_reused_message_id_is_flagged_for_triage() -> None:
    d = decide(CLEAN, None, OK, message_id_reused=True)
    assert d.outcome == Outcome.TRIAGE
    assert "Message-ID already seen with different content" in d.problems


def test_oversized_mail_is_triaged_not_read() -> None:
    assert decide(CLEAN, None, OK, oversized=True).outcome == Outcome.TRIAGE


def test_case_reference_format() -> None:
    assert case_reference("MR", 2026, 123) == "MR-2026-000123"
