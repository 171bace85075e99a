"""The agency directory's entries: checked and normalised, every mistake named."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hub.domain.agencies import AGENCY_TYPES, AgencyEntryError, agency_entry, is_slug

KEY = base64.b64encode(bytes(32)).decode()


def entry(**overrides: Any) -> dict[str, Any]:
    return {"slug": "larch-street-surgery", "emails": ["GP@Example.NHS.uk "], **overrides}


def test_an_entry_is_normalised_and_defaults_filled_in() -> None:
    checked = agency_entry(entry(type="gp", box_public_key=KEY), 1)
    assert checked.slug == "larch-street-surgery"
    assert checked.name == "larch-street-surgery"  # no name: the slug
    assert checked.emails == ["gp@example.nhs.uk"]
    assert checked.type == "gp"
    assert checked.response_hours == 0  # the policy's default
    assert checked.shares_systems is False
    assert checked.box_public_key == KEY
    assert checked.verify_key is None


def test_an_entry_without_a_type_is_other() -> None:
    assert agency_entry(entry(), 1).type == "other" and "other" in AGENCY_TYPES


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a table", "agency #3 is not a table"),
        (entry(phone="0"), r"agency #3 has unknown key\(s\): phone"),
        (entry(slug="Larch Street"), "agency #3: slug must be lower-case"),
        (entry(slug=7), "agency #3: slug must be lower-case"),
        (entry(emails=[]), "larch-street-surgery: emails must list at least one address"),
        (entry(emails=["no-at-sign"]), "emails must list at least one address"),
        (entry(type="pharmacy"), "type must be one of school, gp"),
        (entry(box_public_key="c2hvcnQ="), "box_public_key must be 32 bytes of base64"),
        (entry(verify_key="not base64!"), "verify_key must be 32 bytes of base64"),
        (entry(response_hours=-1), "response_hours must be a whole number of hours"),
        (entry(response_hours=24 * 60 + 1), "response_hours must be a whole number"),
        (entry(response_hours=1.5), "response_hours must be a whole number"),
    ],
)
def test_every_mistake_is_named(raw: object, message: str) -> None:
    with pytest.raises(AgencyEntryError, match=message):
        agency_entry(raw, 3)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("gp", True), ("larch-street-surgery", True), ("a1-b2", True), ("-gp", False),
     ("gp-", False), ("g--p", False), ("GP", False), ("", False)],
)  # fmt: skip
def test_slugs_are_lower_case_words_joined_by_single_dashes(text: str, ok: bool) -> None:
    assert is_slug(text) is ok
