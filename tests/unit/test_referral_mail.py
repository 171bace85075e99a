"""The referral mail parser: the shared fixtures read as their README says, the form is
read however police type it, machine mail is recognised, and no input makes it raise."""

from __future__ import annotations

import base64
import json
import random
import time
from dataclasses import asdict
from datetime import date, datetime, timedelta
from email.message import Message
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]

from hub.domain.filenames import sanitise_filename
from hub.domain.referral import Referral, missing_required
from hub.mail import ParsedMail, is_machine_mail, parse_mail
from hub.mail.htmltext import html_to_text
from hub.mail.mime import POLICY

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "referrals"
LONDON = ZoneInfo("Europe/London")


def fixture(prefix: str) -> ParsedMail:
    (path,) = FIXTURES.glob(f"{prefix}-*.eml")
    return parse_mail(path.read_bytes())


def mail(
    body: str | bytes,
    *headers: tuple[str, str],
    content_type: str = 'text/plain; charset="utf-8"',
    cte: str = "8bit",
    sender: str = "PC 1 Test <test.officer@lancashire.police.uk>",
    subject: str = "MARRAC referral",
) -> bytes:
    """A raw message: standard headers, then ``headers``, then the body as given."""
    lines = [
        f"From: {sender}",
        "To: marrac-referrals@hub.test",
        f"Subject: {subject}",
        "Date: Wed, 01 Apr 2026 02:00:00 +0100",
        "Message-ID: <unit-1@lancashire.police.uk>",
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
        f"Content-Transfer-Encoding: {cte}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    return "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + raw_body


FORM = """MARRAC REFERRAL

Force reference: LC-20260401-0001
Referrer email: test.officer@lancashire.police.uk

== Victim ==
Name: Alice Example
Date of birth: 02/05/1994
"""


def referral_of(text: str, **kwargs: str) -> Referral:
    return parse_mail(mail(text, **kwargs)).referral


def every_string(parsed: ParsedMail) -> str:
    """All text a parsed mail holds, so a test can say what must appear nowhere."""
    return json.dumps(asdict(parsed), default=str, ensure_ascii=False)


# --- The shared fixtures, as tests/fixtures/referrals/README.md states -------------------


def test_fixture_01_case_study_form_is_read_field_by_field() -> None:
    referral = fixture("01").referral
    assert referral.source == "form"
    assert referral.force_reference == "LC-20260312-0045"
    assert referral.referral_reason == "Visible high risk"
    assert (referral.dash_score, referral.risk_level) == (16, "High")
    assert (referral.division, referral.area) == ("South", "Preston")
    assert referral.referrer.name == "PC 4471 Sarah Holt"
    assert referral.referrer.email == "sarah.holt@lancashire.police.uk"
    assert referral.referrer.phone == "01772 000471"
    assert referral.incident_location == "14 Larch Street, Preston PR1 9ZZ"
    assert referral.children_present is True
    assert referral.victim is not None and referral.perpetrator is not None
    assert (referral.victim.name, referral.victim.date_of_birth) == (
        "Emma Clarke",
        date(1994, 5, 2),
    )
    assert referral.victim.details == {
        "safe_to_contact": "Yes - mobile, after 10am",
        "aware_of_referral": "Yes",
    }
    assert (referral.perpetrator.name, referral.perpetrator.date_of_birth) == (
        "Daniel Hughes",
        date(1990, 11, 19),
    )
    assert referral.perpetrator.details["custody"] == "In custody, Preston police station"
    assert referral.perpetrator.details["relationship_to_victim"].startswith("Partner")
    assert [(c.name, c.date_of_birth) for c in referral.children] == [
        ("Lily Clarke", date(2018, 7, 1)),
        ("Noah Clarke", date(2022, 2, 15)),
    ]
    assert referral.children[0].details["present_at_incident"] == "Yes"
    assert referral.summary is not None and referral.summary.startswith("Perpetrator returned")
    assert referral.summary.endswith("a different woman.")
    assert referral.parse_problems == ()
    assert referral.forwarded_by is None


def test_fixture_01_is_a_clean_case_with_nothing_missing() -> None:
    assert missing_required(fixture("01").referral) == []


def test_fixture_01_incident_time_is_uk_local_time_and_timezone_aware() -> None:
    at = fixture("01").referral.incident_at
    assert at == datetime(2026, 3, 12, 1, 0, tzinfo=LONDON)
    assert at is not None and at.utcoffset() == timedelta(0)  # GMT in March, before BST


def test_fixture_01_envelope_gives_message_id_sender_and_subject() -> None:
    parsed = fixture("01")
    assert parsed.message_id == "<179566670427.11210.6524304431469024179@lancashire.police.uk>"
    assert parsed.sender == "sarah.holt@lancashire.police.uk"
    assert parsed.subject == "MARRAC referral - LC-20260312-0045 - High risk"
    assert parsed.machine_reason is None


def test_fixture_02_cp1252_quoted_printable_keeps_accents_and_curly_quotes() -> None:
    parsed = fixture("02")
    referral = parsed.referral
    assert referral.victim is not None and referral.perpetrator is not None
    assert referral.victim.name == "Zoë O’Brien"
    assert referral.victim.address == "3 Café Row, Chorley PR7 9ZZ"
    assert referral.perpetrator.name == "René Dubois"
    assert referral.children == () and referral.children_present is False
    assert (
        referral.summary == "Stalking and harassment after separation; “I will find you” messages."
    )
    assert parsed.subject == "MARRAC referral – LC-20260314-0102"  # an encoded word


def test_fixture_03_html_only_table_is_read_and_the_script_reaches_no_field() -> None:
    parsed = fixture("03")
    referral = parsed.referral
    assert referral.source == "html-form"
    assert referral.force_reference == "LC-20260315-0007"
    assert referral.victim is not None and referral.perpetrator is not None
    assert (referral.victim.name, referral.victim.date_of_birth) == (
        "Priya Natarajan",
        date(1979, 12, 11),
    )
    assert referral.perpetrator.name == "Marcus Webb"
    assert referral.summary == "Coercive control; financial abuse; victim frightened to leave."
    assert "alert(" not in every_string(parsed)
    assert missing_required(referral) == []


def test_fixture_04_json_attachment_is_read_as_a_structured_referral() -> None:
    referral = fixture("04").referral
    assert referral.source == "json"
    assert referral.force_reference == "LC-20260316-0311"
    assert referral.victim is not None and referral.perpetrator is not None
    assert (referral.victim.name, referral.victim.date_of_birth) == (
        "Hannah Lowe",
        date(1999, 8, 8),
    )
    assert [c.name for c in referral.children] == ["Ava Lowe"]
    assert referral.children[0].details == {"present_at_incident": "Yes"}
    assert referral.perpetrator.details == {
        "relationship_to_victim": "Husband",
        "custody": "In custody",
    }
    assert referral.incident_at == datetime(2026, 3, 16, 2, 10, tzinfo=ZoneInfo("UTC"))
    assert referral.dash_score == 9 and referral.children_present is True
    assert referral.referrer.email == "tom.reilly@lancashire.police.uk"
    assert [a.filename for a in referral.attachments] == ["referral.json"]
    assert referral.parse_problems == ()


def test_fixture_05_missing_date_of_birth_and_absent_perpetrator_are_reported() -> None:
    referral = fixture("05").referral
    assert referral.source == "form"
    assert referral.victim is not None and referral.victim.name == "Grace Whitfield"
    assert referral.perpetrator is None
    assert "victim date of birth missing" in missing_required(referral)
    assert "referrer email missing" in missing_required(referral)


def test_fixture_06_inline_forward_keeps_the_form_referrer_and_records_the_forwarder() -> None:
    parsed = fixture("06")
    assert parsed.sender == "r.patel@lancashire.police.uk"
    assert parsed.referral.referrer.email == "lee.booth@lancashire.police.uk"
    assert parsed.referral.forwarded_by == "r.patel@lancashire.police.uk"
    assert parsed.referral.victim is not None
    assert parsed.referral.victim.name == "Chloe Barker"
    assert missing_required(parsed.referral) == []


def test_fixture_07_stranger_mail_still_parses_so_intake_can_quarantine_it() -> None:
    parsed = fixture("07")
    assert parsed.sender == "someone@gmail.example"
    assert parsed.referral.source == "form"
    assert parsed.referral.force_reference == "XX-1"


def test_fixture_08_repeat_names_the_same_victim_and_perpetrator_as_01() -> None:
    first, repeat = fixture("01").referral, fixture("08").referral
    assert repeat.victim == first.victim
    assert repeat.perpetrator == first.perpetrator
    assert repeat.force_reference == "LC-20260402-0077"


def test_fixture_09_garbage_does_not_raise_and_has_no_message_id() -> None:
    parsed = fixture("09")
    assert parsed.message_id is None
    assert parsed.sender == "pc.0000@lancashire.police.uk"
    assert parsed.subject == "=?utf-8?B?broken"
    assert parsed.referral.source == "none"
    assert parsed.referral.parse_problems[0] == "no referral form found in the mail"


def test_fixture_10_attached_word_form_is_kept_and_no_form_is_claimed() -> None:
    referral = fixture("10").referral
    assert referral.source == "none"
    assert referral.parse_problems == ("no referral form found in the mail",)
    (attachment,) = referral.attachments
    assert attachment.filename == "MARAC referral form.docx"
    assert attachment.content_type.endswith("wordprocessingml.document")
    assert attachment.data.startswith(b"PK")


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.name[:2])
def test_every_fixture_has_a_sender_and_none_is_machine_mail(path: Path) -> None:
    parsed = parse_mail(path.read_bytes())
    assert parsed.machine_reason is None
    assert parsed.sender is not None


# --- The plain-text form, however it is typed -------------------------------------------


def test_labels_are_case_insensitive_and_tolerate_spaces_tabs_and_crlf() -> None:
    text = (
        "FORCE REFERENCE :   LC-1  \r\n"
        "referrer EMAIL:\tx@lancashire.police.uk\r\n"
        "\r\n"
        "==victim==\r\n"
        "   NAME\t:  Alice Example   \r\n"
        "Date Of Birth:02/05/1994\r\n"
        "Gender\tFemale\r\n"
    )
    referral = referral_of(text)
    assert referral.force_reference == "LC-1"
    assert referral.referrer.email == "x@lancashire.police.uk"
    assert referral.victim is not None
    assert (referral.victim.name, referral.victim.date_of_birth) == (
        "Alice Example",
        date(1994, 5, 2),
    )
    assert referral.victim.gender == "Female"  # a tab alone separates a known label


@pytest.mark.parametrize("label", ["DOB", "D.O.B", "D.O.B.", "Date of birth", "Birth date"])
def test_date_of_birth_synonyms_are_understood(label: str) -> None:
    referral = referral_of(f"Force reference: A\n== Victim ==\nName: Alice\n{label}: 02/05/1994\n")
    assert referral.victim is not None and referral.victim.date_of_birth == date(1994, 5, 2)


@pytest.mark.parametrize("label", ["Tel", "Tel.", "Telephone", "Phone", "Mobile", "Phone number"])
def test_phone_synonyms_are_understood(label: str) -> None:
    referral = referral_of(
        f"Force reference: A\n== Victim ==\nName: Alice\n{label}: 07700 900000\n"
    )
    assert referral.victim is not None and referral.victim.phone == "07700 900000"


def test_full_name_forename_surname_and_post_code_synonyms_are_understood() -> None:
    referral = referral_of(
        "Force ref: A\n"
        "== Victim ==\nFull name: Alice Example\nAddress: 1 High St, Preston\nPost code: PR1 9ZZ\n"
        "== Perpetrator ==\nForename: Bob\nSurname: Example\nPostcode: PR2 9ZZ\n"
    )
    assert referral.victim is not None and referral.perpetrator is not None
    assert referral.victim.name == "Alice Example"
    assert referral.victim.address == "1 High St, Preston, PR1 9ZZ"
    assert referral.perpetrator.name == "Bob Example"
    assert referral.perpetrator.address == "PR2 9ZZ"


def test_fields_and_sections_may_come_in_any_order() -> None:
    text = (
        "== Perpetrator ==\nName: Bob Example\n\n"
        "== Victim ==\nDate of birth: 02/05/1994\nName: Alice Example\n\n"
        "Risk level: Medium\nForce reference: LC-9\nReferrer email: r@lancashire.police.uk\n"
    )
    referral = referral_of(text)
    assert referral.force_reference == "LC-9" and referral.risk_level == "Medium"
    assert referral.victim is not None and referral.victim.name == "Alice Example"
    assert referral.perpetrator is not None and referral.perpetrator.name == "Bob Example"
    assert missing_required(referral) == []


def test_role_prefixed_labels_work_without_sections() -> None:
    text = (
        "Force reference: A\nVictim name: Alice Example\nVictim DOB: 2/5/1994\n"
        "Perpetrator: Bob Example\nChild 1 name: Cat\nChild 2 name: Dan\nChild 1 DOB: 01/07/2018\n"
    )
    referral = referral_of(text)
    assert referral.victim is not None and referral.victim.date_of_birth == date(1994, 5, 2)
    assert referral.perpetrator is not None and referral.perpetrator.name == "Bob Example"
    assert [(c.name, c.date_of_birth) for c in referral.children] == [
        ("Cat", date(2018, 7, 1)),
        ("Dan", None),
    ]


@pytest.mark.parametrize(
    "written",
    ["02/05/1994", "2/5/1994", "02-05-1994", "02.05.1994", "1994-05-02", "2 May 1994",
     "2nd May 1994", "02/05/94"],
)  # fmt: skip
def test_uk_day_first_and_iso_dates_are_read(written: str) -> None:
    referral = referral_of(f"Force reference: A\n== Victim ==\nName: Alice\nDOB: {written}\n")
    assert referral.victim is not None and referral.victim.date_of_birth == date(1994, 5, 2)


def test_two_digit_years_take_the_century_that_keeps_the_date_before_the_mail() -> None:
    referral = referral_of("Force reference: A\n== Child ==\nName: Cat\nDOB: 01/07/18\n")
    assert referral.children[0].date_of_birth == date(2018, 7, 1)


def test_an_impossible_date_is_dropped_with_a_problem_that_holds_no_personal_data() -> None:
    referral = referral_of(
        "Force reference: A\n== Victim ==\nName: Alice Example\nDOB: 31/02/1994\n"
        "== Child ==\nName: Cat\nDOB: soon\n"
    )
    assert referral.victim is not None and referral.victim.date_of_birth is None
    assert referral.parse_problems == (
        "victim date of birth not understood",
        "child 1 date of birth not understood",
    )
    problems = " ".join(referral.parse_problems)
    assert "Alice" not in problems and "31/02" not in problems and "soon" not in problems


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("12/03/2026 01:00", datetime(2026, 3, 12, 1, 0, tzinfo=LONDON)),
        ("12/03/2026 at 0100hrs", datetime(2026, 3, 12, 1, 0, tzinfo=LONDON)),
        ("Thursday 12/03/2026, 1am", datetime(2026, 3, 12, 1, 0, tzinfo=LONDON)),
        ("12/03/2026", datetime(2026, 3, 12, 0, 0, tzinfo=LONDON)),
        ("2026-03-12T01:00", datetime(2026, 3, 12, 1, 0, tzinfo=LONDON)),
        ("2026-07-12 23:30", datetime(2026, 7, 12, 22, 30, tzinfo=ZoneInfo("UTC"))),
    ],
)
def test_incident_date_and_time_become_an_aware_uk_datetime(
    written: str, expected: datetime
) -> None:
    referral = referral_of(f"Force reference: A\nIncident date: {written}\nRisk level: High\n")
    assert referral.incident_at == expected
    assert referral.incident_at is not None and referral.incident_at.tzinfo is not None


def test_summer_incident_times_carry_the_bst_offset() -> None:
    referral = referral_of("Force reference: A\nIncident date: 12/07/2026 01:00\nRisk: High\n")
    assert referral.incident_at is not None
    assert referral.incident_at.utcoffset() == timedelta(hours=1)


def test_incident_date_and_time_given_on_separate_lines_are_combined() -> None:
    referral = referral_of(
        "Force reference: A\nDate of incident: 12/03/2026\nIncident time: 22:15\n"
    )
    assert referral.incident_at == datetime(2026, 3, 12, 22, 15, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("written", "expected"), [("Yes", True), ("yes - both", True), ("No", False), ("N", False)]
)
def test_children_present_becomes_a_bool(written: str, expected: bool) -> None:
    referral = referral_of(f"Force reference: A\nChildren present: {written}\n")
    assert referral.children_present is expected


def test_unreadable_dash_score_and_children_present_are_problems_not_guesses() -> None:
    referral = referral_of("Force reference: A\nDASH score: high\nChildren present: unsure\n")
    assert referral.dash_score is None and referral.children_present is None
    assert referral.parse_problems == (
        "dash score not understood",
        "children present not understood",
    )


def test_dash_score_is_the_leading_whole_number() -> None:
    assert referral_of("Force reference: A\nDASH: 16/24\n").dash_score == 16


def test_unknown_person_labels_are_kept_as_snake_case_details() -> None:
    referral = referral_of(
        "Force reference: A\n== Victim ==\nName: Alice\nSafe to contact: Only via IDVA\n"
        "First language: Polish\nMobile: 07700 900001\nTel: 07700 900002\n"
    )
    assert referral.victim is not None
    assert referral.victim.phone == "07700 900001"
    assert referral.victim.details == {
        "safe_to_contact": "Only via IDVA",
        "first_language": "Polish",
        "tel": "07700 900002",  # a second phone is kept, not lost
    }


def test_an_address_carried_over_several_lines_is_joined() -> None:
    referral = referral_of(
        "Force reference: A\n== Victim ==\nName: Alice\nAddress: 1 High St\nPreston\nPR1 9ZZ\n"
    )
    assert referral.victim is not None
    assert referral.victim.address == "1 High St, Preston, PR1 9ZZ"


def test_hundreds_of_unknown_labels_are_capped_without_failing() -> None:
    extras = "".join(f"Extra {n}: value\ncarried on\n" for n in range(200))
    referral = referral_of(f"Force reference: A\n== Victim ==\nName: Alice\n{extras}")
    assert referral.victim is not None and len(referral.victim.details) == 40
    assert referral.victim.details["extra_0"] == "value, carried on"


def test_a_children_section_lists_several_children_by_repeated_names() -> None:
    referral = referral_of(
        "Force reference: A\n== Children ==\nName: Cat\nDOB: 01/07/2018\nSchool: St X\n"
        "Name: Dan\nDOB: 15/02/2022\n"
    )
    assert [(c.name, c.date_of_birth) for c in referral.children] == [
        ("Cat", date(2018, 7, 1)),
        ("Dan", date(2022, 2, 15)),
    ]
    assert referral.children[0].details == {"school": "St X"}


@pytest.mark.parametrize("marker", ["Child 1", "== Child 1 ==", "Child details:", "### Child"])
def test_child_section_markers_take_several_forms(marker: str) -> None:
    referral = referral_of(
        f"Force reference: A\nRisk: High\n{marker}\nName: Cat\n{marker}\nName: Dan\n"
    )
    assert [c.name for c in referral.children] == ["Cat", "Dan"]


def test_summary_is_free_text_up_to_the_next_section() -> None:
    referral = referral_of(
        "Force reference: A\n== Summary ==\nLine one: with a colon.\n\nName: not a field\n"
        "== Victim ==\nName: Alice\n"
    )
    assert referral.summary == "Line one: with a colon.\n\nName: not a field"
    assert referral.victim is not None and referral.victim.name == "Alice"


def test_values_lose_control_characters_and_are_capped_at_2000_characters() -> None:
    referral = referral_of(
        "Force reference: LC\x00-1\x07\n== Victim ==\nName: Alice\u202e Example\n"
        f"Address: {'x' * 5000}\n"
    )
    assert referral.force_reference == "LC-1"
    assert referral.victim is not None and referral.victim.name == "Alice Example"
    assert referral.victim.address == "x" * 2000


def test_a_long_summary_is_kept_whole_up_to_its_limit() -> None:
    referral = referral_of(f"Force reference: A\n== Summary ==\n{'word ' * 1000}\n")
    assert referral.summary is not None and len(referral.summary) == len("word " * 1000) - 1
    assert not any("summary longer" in p for p in referral.parse_problems)


def test_an_enormous_summary_is_cut_and_says_so() -> None:
    referral = referral_of(f"Force reference: A\n== Summary ==\n{'word ' * 12000}\n")
    assert referral.summary is not None and len(referral.summary) <= 50_000
    assert any("summary longer than 50000" in p for p in referral.parse_problems)


def test_markup_in_values_is_kept_as_plain_text_for_the_web_layer_to_escape() -> None:
    referral = referral_of("Force reference: A\n== Victim ==\nName: <b>Alice</b> &amp;\n")
    assert referral.victim is not None and referral.victim.name == "<b>Alice</b> &amp;"


def test_a_form_quoted_in_a_reply_is_still_read() -> None:
    referral = referral_of("Thanks.\n\n> Force reference: A\n> == Victim ==\n> Name: Alice\n")
    assert referral.force_reference == "A"
    assert referral.victim is not None and referral.victim.name == "Alice"


def test_prose_that_happens_to_contain_a_colon_is_not_a_form() -> None:
    referral = referral_of("Hello: please see attached.\nRegards: PC 1\n")
    assert referral.source == "none"
    assert referral.parse_problems == ("no referral form found in the mail",)


# --- HTML bodies --------------------------------------------------------------------------


def test_html_table_rows_become_label_value_lines_and_headings_section_markers() -> None:
    text = html_to_text(
        "<table><tr><td><b>Force reference:</b></td><td>LC-1</td></tr></table>"
        "<h3>Victim</h3><table><tr><th>Name</th><td>Alice</td><th>DOB</th><td>02/05/1994</td>"
        "</tr><tr><td>Address</td><td>1 High St<br>Preston</td></tr></table>"
    )
    assert text.split("\n") == [
        "Force reference: LC-1",
        "",
        "== Victim ==",
        "",
        "Name: Alice",
        "DOB: 02/05/1994",
        "",
        "Address: 1 High St, Preston",
    ]


def test_html_drops_script_and_style_content_and_unescapes_entities() -> None:
    text = html_to_text(
        "<style>p{color:red}</style><p>Caf&eacute; &amp; bar&nbsp;x &lt;b&gt;</p>"
        "<script>alert('x')</script><SCRIPT type=x>evil()</SCRIPT><p>end</p>"
    )
    assert text == "Café & bar x <b>\n\nend"


def test_html_layout_table_around_the_form_keeps_the_inner_rows() -> None:
    text = html_to_text(
        "<table><tr><td><p>Force reference: A</p><p>Risk level: High</p>"
        "<table><tr><td>Name</td><td>Alice</td></tr></table></td></tr></table>"
    )
    assert "Force reference: A" in text.split("\n")
    assert "Risk level: High" in text.split("\n")
    assert "Name: Alice" in text.split("\n")


def test_html_with_a_plain_text_alternative_is_read_from_the_text_part() -> None:
    raw = mail(
        "--b\r\nContent-Type: text/plain\r\n\r\n" + FORM + "\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<p>Force reference: HTML</p><p>Risk: x</p>\r\n"
        "--b--\r\n",
        content_type='multipart/alternative; boundary="b"',
    )
    referral = parse_mail(raw).referral
    assert referral.source == "form" and referral.force_reference == "LC-20260401-0001"


def test_broken_html_never_raises() -> None:
    for markup in ["<![if x]><p>a", "<table><tr><td>" * 500, "<h3>unclosed", "<script>x", "<"]:
        assert isinstance(html_to_text(markup), str)


# --- Charsets, transfer encodings, forwarding, JSON ----------------------------------------


def test_an_unknown_charset_falls_back_to_utf8() -> None:
    raw = mail(FORM.replace("Alice", "Zoë"), content_type="text/plain; charset=x-unknown-charset")
    victim = parse_mail(raw).referral.victim
    assert victim is not None and victim.name == "Zoë Example"


def test_a_mislabelled_body_falls_back_to_cp1252() -> None:
    raw = mail(
        FORM.replace("Alice", "Zoë").encode("cp1252"), content_type="text/plain; charset=utf-8"
    )
    victim = parse_mail(raw).referral.victim
    assert victim is not None and victim.name == "Zoë Example"


def test_a_non_text_codec_named_as_charset_is_ignored() -> None:
    raw = mail(FORM, content_type="text/plain; charset=base64")
    assert parse_mail(raw).referral.force_reference == "LC-20260401-0001"


def test_base64_bodies_are_decoded_and_broken_base64_does_not_raise() -> None:
    good = mail(base64.encodebytes(FORM.encode()), cte="base64")
    assert parse_mail(good).referral.force_reference == "LC-20260401-0001"
    broken = mail(b"!!!not base64!!!\r\n\xff\xfe\x00", cte="base64")
    assert parse_mail(broken).referral.source == "none"


def test_a_forward_attached_as_message_rfc822_reads_the_inner_form() -> None:
    inner = mail(FORM, sender="PC 2 Inner <inner@lancashire.police.uk>").decode()
    raw = mail(
        "--b\r\nContent-Type: text/plain\r\n\r\nFYI, see attached.\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--b--\r\n",
        content_type='multipart/mixed; boundary="b"',
        sender="Sgt <sgt@lancashire.police.uk>",
    )
    parsed = parse_mail(raw)
    assert parsed.referral.force_reference == "LC-20260401-0001"
    assert parsed.referral.referrer.email == "test.officer@lancashire.police.uk"
    assert parsed.referral.forwarded_by == "sgt@lancashire.police.uk"


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----\nFrom: PC 2\nSent: 01 April 2026 02:00\nTo: x\nSubject: y",
        "________________________________\nFrom: PC 2 <a@b.c>\nSent: 01 April 2026 02:00",
        "Begin forwarded message:\n\nFrom: PC 2 <a@b.c>\nDate: 1 April 2026",
    ],
)
def test_inline_forwards_in_outlook_and_apple_styles_set_forwarded_by(separator: str) -> None:
    raw = mail(f"Please action.\n\n{separator}\n\n{FORM}", sender="sgt@lancashire.police.uk")
    referral = parse_mail(raw).referral
    assert referral.forwarded_by == "sgt@lancashire.police.uk"
    assert referral.victim is not None and referral.victim.name == "Alice Example"


def test_a_mail_sent_directly_has_no_forwarded_by() -> None:
    assert referral_of(FORM).forwarded_by is None


def json_mail(document: bytes, filename: str = "referral.json", text: str = "See JSON.") -> bytes:
    return mail(
        f"--b\r\nContent-Type: text/plain\r\n\r\n{text}\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'
        + document.decode("utf-8", "replace")
        + "\r\n--b--\r\n",
        content_type='multipart/mixed; boundary="b"',
    )


def test_a_json_attachment_is_recognised_by_its_filename() -> None:
    document = json.dumps({"force_reference": "J-1", "victim": {"name": "Alice"}}).encode()
    referral = parse_mail(json_mail(document)).referral
    assert (referral.source, referral.force_reference) == ("json", "J-1")


def test_schema_invalid_json_falls_back_to_the_text_form_and_names_the_path_only() -> None:
    document = json.dumps({"victim": {"name": "Alice Secret", "date_of_birth": "02/05/1994"}})
    referral = parse_mail(json_mail(document.encode(), text=FORM)).referral
    assert referral.source == "form"
    assert referral.parse_problems == ("referral.json invalid: /victim/date_of_birth",)
    assert [a.filename for a in referral.attachments] == ["referral.json"]


def test_json_that_does_not_parse_falls_back_with_a_problem() -> None:
    referral = parse_mail(json_mail(b"{not json", text="no form here")).referral
    assert referral.source == "none"
    assert referral.parse_problems == (
        "no referral form found in the mail",
        "referral.json invalid: not valid JSON",
    )


def test_the_referral_schema_is_valid_draft_2020_12_and_accepts_fixture_04() -> None:
    schema = json.loads((ROOT / "schemas" / "referral.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    attachment = fixture("04").referral.attachments[0]
    Draft202012Validator(schema).validate(json.loads(attachment.data))


# --- Attachments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\pc\\form.docx", "form.docx"),
        ("bad\x00name\x1b.pdf", "bad name .pdf"),
        ("exe\u202efdp.scr", "exefdp.scr"),
        ("", "attachment.bin"),
        ("..", "attachment.bin"),
        (None, "attachment.bin"),
        ("a" * 300 + ".docx", "a" * 115 + ".docx"),
    ],
)
def test_attachment_filenames_are_sanitised(given: str | None, kept: str) -> None:
    assert sanitise_filename(given) == kept
    assert len(sanitise_filename(given)) <= 120


def test_attachments_are_kept_with_safe_names_and_tnef_is_just_a_file() -> None:
    raw = mail(
        "--b\r\nContent-Type: text/plain\r\n\r\n" + FORM + "\r\n"
        "--b\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"\x78\x9f\x3e\x22" + bytes(100)).decode()
        + "--b\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="../scan.pdf"\r\n\r\n%PDF-1.4\r\n--b--\r\n',
        content_type='multipart/mixed; boundary="b"',
    )
    referral = parse_mail(raw).referral
    assert referral.source == "form"
    assert [(a.filename, a.content_type) for a in referral.attachments] == [
        ("winmail.dat", "application/ms-tnef"),
        ("scan.pdf", "application/pdf"),
    ]
    assert referral.attachments[0].data.startswith(b"\x78\x9f\x3e\x22")


# --- The envelope -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [("  <a@b.c>  ", "<a@b.c>"), ("", None), ("   ", None), ("<a@\r\n b.c>", "<a@b.c>")],
)
def test_message_id_is_kept_with_brackets_and_without_whitespace(
    header: str, expected: str | None
) -> None:
    raw = mail(FORM).replace(b"<unit-1@lancashire.police.uk>", header.encode())
    assert parse_mail(raw).message_id == expected


def test_sender_is_the_first_from_address_lower_cased() -> None:
    raw = mail(FORM, sender='"Holt, Sarah" <Sarah.Holt@Lancashire.Police.UK>, other@x.example')
    assert parse_mail(raw).sender == "sarah.holt@lancashire.police.uk"


def test_an_encoded_word_cannot_smuggle_an_address_into_the_sender() -> None:
    sneaky = "=?utf-8?Q?PC=0D=0AFrom:_evil@evil.example?= <good@lancashire.police.uk>"
    assert parse_mail(mail(FORM, sender=sneaky)).sender == "good@lancashire.police.uk"
    spoof = '"=?utf-8?Q?good@lancashire.police.uk?=" <evil@evil.example>'
    assert parse_mail(mail(FORM, sender=spoof)).sender == "evil@evil.example"


def test_an_unparseable_from_gives_no_sender() -> None:
    assert parse_mail(mail(FORM, sender="a@b.c@d.e")).sender is None
    assert parse_mail(mail(FORM, sender="undisclosed-recipients:;")).sender is None


def test_subject_is_decoded_stripped_of_controls_and_capped() -> None:
    subject = "=?utf-8?Q?Caf=C3=A9=0D=0ABcc:_x?= " + "y" * 400
    parsed = parse_mail(mail(FORM, subject=subject))
    assert parsed.subject.startswith("Café Bcc: x yyy")
    assert len(parsed.subject) == 300 and "\r" not in parsed.subject


def test_bad_encoded_words_in_the_subject_stay_as_typed() -> None:
    subject = "=?utf-8?B?TUFSUkFD?= =?utf-8?B?!!bad!!?= =?x-nope?Q?ok?= =?utf-8?B?broken"
    parsed = parse_mail(mail(FORM, subject=subject))
    assert parsed.subject == "MARRAC =?utf-8?B?!!bad!!?= ok =?utf-8?B?broken"


def test_every_authentication_results_header_and_reply_to_is_kept_in_order() -> None:
    raw = mail(
        FORM,
        ("Authentication-Results", "mx.hub.test; dmarc=pass header.from=lancashire.police.uk"),
        ("Authentication-Results", "other.example; spf=fail"),
        ("Reply-To", "A <A@Lancashire.police.uk>, b@lancashire.police.uk"),
    )
    parsed = parse_mail(raw)
    assert parsed.auth_results == (
        "mx.hub.test; dmarc=pass header.from=lancashire.police.uk",
        "other.example; spf=fail",
    )
    assert parsed.reply_to == ("a@lancashire.police.uk", "b@lancashire.police.uk")


# --- Machine mail -------------------------------------------------------------------------------

DSN = 'multipart/report; report-type=delivery-status; boundary="b"'
MDN = 'multipart/report; report-type=disposition-notification; boundary="b"'


@pytest.mark.parametrize(
    ("headers", "kwargs", "reason"),
    [
        ([("Auto-Submitted", "auto-replied")], {}, "auto-submitted: auto-replied"),
        (
            [("Auto-Submitted", "Auto-Generated; owner-email=x")],
            {},
            "auto-submitted: auto-generated",
        ),
        ([("Precedence", "bulk")], {}, "precedence: bulk"),
        ([("Precedence", "junk")], {}, "precedence: junk"),
        ([("Precedence", "list")], {}, "precedence: list"),
        ([("Precedence", "auto_reply")], {}, "precedence: auto_reply"),
        ([("X-Autoreply", "yes")], {}, "x-autoreply header"),
        ([("X-Autorespond", "Away")], {}, "x-autorespond header"),
        ([], {"content_type": DSN}, "report: delivery-status"),
        ([], {"content_type": MDN}, "report: disposition-notification"),
        ([("X-Failed-Recipients", "a@b.c")], {}, "bounce: x-failed-recipients"),
        (
            [("Return-Path", "<>")],
            {"sender": "Mail Delivery System <MAILER-DAEMON@mx.example>"},
            "bounce: mailer-daemon with null return-path",
        ),
        (
            [("Return-Path", "< >")],
            {"sender": "postmaster@lancashire.police.uk"},
            "bounce: mailer-daemon with null return-path",
        ),
        (
            [("X-Auto-Response-Suppress", "All")],
            {"subject": "Automatic reply: MARRAC referral"},
            "auto-reply subject with x-auto-response-suppress",
        ),
        (
            [("Return-Path", "<>")],
            {"subject": "Out of Office: MARRAC referral"},
            "auto-reply subject with null return-path",
        ),
        (
            [],
            {"subject": "Undeliverable: MARRAC referral", "sender": "MAILER-DAEMON@mx.example"},
            "auto-reply subject from mailer-daemon",
        ),
    ],
)
def test_machine_mail_is_recognised_by_each_kind_of_signal(
    headers: list[tuple[str, str]], kwargs: dict[str, str], reason: str
) -> None:
    parsed = parse_mail(mail("Body.", *headers, **kwargs))
    assert parsed.machine_reason == reason
    assert "@" not in reason  # reasons are logged: no addresses


@pytest.mark.parametrize(
    ("headers", "kwargs"),
    [
        ([], {}),
        ([("Auto-Submitted", "no")], {}),
        ([("X-Auto-Response-Suppress", "All")], {}),  # Outlook sets it on ordinary mail too
        ([("X-Auto-Response-Suppress", "OOF, AutoReply")], {"subject": "MARRAC referral"}),
        ([], {"subject": "Out of office cover: MARRAC referral"}),  # a person may write this
        ([("Precedence", "first-class")], {}),
        ([("X-Autoreply", "no")], {}),
        ([("Return-Path", "<>")], {}),
        ([], {"sender": "postmaster@lancashire.police.uk"}),  # a person can run postmaster
    ],
)
def test_ordinary_mail_is_not_machine_mail(
    headers: list[tuple[str, str]], kwargs: dict[str, str]
) -> None:
    assert parse_mail(mail(FORM, *headers, **kwargs)).machine_reason is None


def test_is_machine_mail_works_on_a_message_object() -> None:
    msg = Message(policy=POLICY)
    msg["Auto-Submitted"] = "auto-replied"
    assert is_machine_mail(msg) == "auto-submitted: auto-replied"
    assert is_machine_mail(Message(policy=POLICY)) is None


# --- Never raises ---------------------------------------------------------------------------------


def test_empty_bytes_give_an_empty_envelope_and_no_form() -> None:
    parsed = parse_mail(b"")
    assert (parsed.message_id, parsed.sender, parsed.subject) == (None, None, "")
    assert parsed.referral.source == "none"
    assert parsed.referral.parse_problems == ("no referral form found in the mail",)


def test_random_binary_junk_never_raises() -> None:
    rng = random.Random(20260401)
    for size in (1, 10, 100, 1_000, 10_000, 100_000):
        parsed = parse_mail(bytes(rng.randrange(256) for _ in range(size)))
        assert parsed.referral.source in ("none", "form")


def test_randomly_corrupted_fixtures_never_raise() -> None:
    rng = random.Random(7)
    originals = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]
    for round_ in range(300):
        damaged = bytearray(originals[round_ % len(originals)])
        for _ in range(rng.randrange(1, 40)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        assert isinstance(parse_mail(bytes(damaged)), ParsedMail)


def nested_forwards(depth: int) -> bytes:
    raw = FORM.encode()
    for _ in range(depth):
        raw = b"From: a@b.example\r\nContent-Type: message/rfc822\r\n\r\n" + raw
    return raw


def test_forwards_nested_a_few_deep_are_read() -> None:
    assert parse_mail(nested_forwards(3)).referral.force_reference == "LC-20260401-0001"


@pytest.mark.parametrize("depth", [6, 100, 5_000])
def test_deeply_nested_forwards_stop_at_a_limit_without_raising(depth: int) -> None:
    parsed = parse_mail(nested_forwards(depth))
    assert parsed.sender == "a@b.example"
    assert parsed.referral.source == "none"
    assert len(parsed.referral.parse_problems) == 2


def test_hostile_headers_are_read_quickly_and_without_raising() -> None:
    raw = (
        b"From: " + b'"' * 100_000 + b"\r\n"
        b"Reply-To: " + b"(a" * 50_000 + b"\r\n"
        b"Message-ID: " + b"<" * 100_000 + b"\r\n"
        b"Subject: " + b" ".join([b"=?utf-8?B?aGVsbG8=?="] * 50_000) + b"\r\n"
        b"Content-Type: text/plain; " + b"a*0*=x;" * 50_000 + b"\r\n\r\nbody"
    )
    started = time.perf_counter()
    parsed = parse_mail(raw)
    assert time.perf_counter() - started < 2.0
    assert parsed.sender is None and parsed.reply_to == ()
    assert len(parsed.subject) <= 300


def test_a_20_megabyte_attachment_is_kept_whole() -> None:
    payload = bytes(range(256)) * (20 * 1024 * 4)
    raw = mail(
        "--b\r\nContent-Type: text/plain\r\n\r\n" + FORM + "\r\n"
        "--b\r\nContent-Type: application/octet-stream; name=big.bin\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(payload).decode()
        + "--b--\r\n",
        content_type='multipart/mixed; boundary="b"',
    )
    referral = parse_mail(raw).referral
    assert referral.source == "form"
    assert referral.attachments[0].data == payload


def test_a_multipart_without_a_boundary_is_read_as_text() -> None:
    referral = referral_of(FORM, content_type="multipart/mixed")
    assert referral.force_reference == "LC-20260401-0001"
