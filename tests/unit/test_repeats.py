"""Repeat detection: SafeLives' 12-month rule over normalised identities."""

from datetime import UTC, date, datetime, timedelta

from hub.domain.repeats import EarlierCase, decide_repeat, identity_key, normalise_name

NOW = datetime(2026, 4, 2, 12, tzinfo=UTC)


def test_names_normalise_across_case_accents_and_spacing() -> None:
    assert normalise_name("  Zoë   O’BRIEN ") == normalise_name("zoe o'brien")
    assert identity_key("Emma Clarke", date(1994, 5, 2)) == "emma clarke|1994-05-02"


def test_identity_needs_both_name_and_date_of_birth() -> None:
    assert identity_key("Emma Clarke", None) is None
    assert identity_key(None, date(1994, 5, 2)) is None
    assert identity_key("  ", date(1994, 5, 2)) is None


def test_same_pair_within_twelve_months_is_a_repeat() -> None:
    earlier = EarlierCase(1, "MR-2026-000001", NOW - timedelta(days=21), True, True)
    decision = decide_repeat([earlier], NOW)
    assert decision.repeat_of == earlier
    assert decision.linked == ("MR-2026-000001",)


def test_same_pair_after_twelve_months_is_linked_but_not_a_repeat() -> None:
    earlier = EarlierCase(1, "MR-2025-000001", NOW - timedelta(days=366), True, True)
    decision = decide_repeat([earlier], NOW)
    assert decision.repeat_of is None
    assert decision.linked == ("MR-2025-000001",)


def test_victim_alone_matching_links_without_a_repeat() -> None:
    earlier = EarlierCase(1, "MR-2026-000001", NOW - timedelta(days=3), True, False)
    assert decide_repeat([earlier], NOW).repeat_of is None


def test_the_latest_matching_pair_is_the_one_repeated() -> None:
    old = EarlierCase(1, "MR-2026-000001", NOW - timedelta(days=100), True, True)
    new = EarlierCase(2, "MR-2026-000002", NOW - timedelta(days=10), True, True)
    assert decide_repeat([new, old], NOW).repeat_of == new


def test_invisible_characters_do_not_hide_a_person() -> None:
    assert normalise_name("Emma\u200b Cla\u200drke\ufeff") == normalise_name("Emma Clarke")
