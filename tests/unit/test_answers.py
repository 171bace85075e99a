"""The rules for an agency's reply, on plain values: no web server needed."""

from __future__ import annotations

from datetime import date

import pytest

from hub.domain.answers import (
    AnswerForm,
    BadForm,
    Entry,
    Problem,
    check_answer,
    read_date,
)
from hub.domain.filenames import safe_filename
from hub.domain.uploads import DOCX, Upload, check_upload, sniff

TODAY = date(2026, 3, 27)
# The smallest PDF the structural check accepts: header, an object, a trailer, %%EOF.
PDF = Upload(
    "report.pdf",
    "application/pdf",
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
)
ALLOWED = ("application/pdf", "text/plain")


@pytest.mark.parametrize(
    ("boxes", "reason"),
    [
        (("27", "", "2026"), "incomplete"),
        (("31", "2", "2026"), "not-real"),
        (("1", "1", "26"), "not-real"),
        (("28", "3", "2026"), "future"),
        (("1", "1", "1899"), "too-early"),
    ],
)
def test_a_last_contact_date_that_cannot_be_right_is_a_problem(
    boxes: tuple[str, str, str], reason: str
) -> None:
    value, problem = read_date(*boxes, TODAY)
    assert value is None and problem is not None and problem.reason == reason


def test_a_date_is_optional_and_read_from_its_three_boxes() -> None:
    assert read_date("", " ", "", TODAY) == (None, None)
    assert read_date(" 27", "3", "2026 ", TODAY) == ("2026-03-27", None)
    assert read_date("", "3", "", TODAY)[1] == Problem(
        "last-contact", "incomplete", missing_parts=("day", "year")
    )


def test_an_answer_needs_known_or_text_for_each_question_and_reports_in_order() -> None:
    form = AnswerForm(
        "answered",
        (Entry("a", known="yes"), Entry("b", day="40", month="1", year="2026")),
        uploads=(PDF, Upload("x.pdf", "application/pdf", b"MZ")),
        too_many_files=True,
    )
    checked, problems = check_answer(form, TODAY, ALLOWED)
    assert checked is None
    assert [(p.question, p.part, p.reason) for p in problems] == [
        (2, "known", "missing"),
        (2, "last-contact", "not-real"),
        (0, "attachment", "too-many"),
        (0, "attachment", "wrong-type"),
    ]


def test_a_good_answer_is_ready_to_store_with_safe_file_names() -> None:
    form = AnswerForm(
        "answered",
        (Entry("a", known="no", text=" seen\r\nonce "),),
        uploads=(Upload("../Résumé.pdf", "application/pdf", PDF.data),),
    )
    checked, problems = check_answer(form, TODAY, ALLOWED)
    assert problems == [] and checked is not None
    assert checked.answers[0].as_dict() == {
        "question_id": "a",
        "known": False,
        "last_contact": None,
        "text": "seen\nonce",
    }
    assert checked.attachments == (("Resume.pdf", "application/pdf", PDF.data),)


def test_a_refusal_needs_a_reason() -> None:
    assert check_answer(AnswerForm("declined", decline_reason=" \r\n"), TODAY, ALLOWED) == (
        None,
        [Problem("decline-reason", "missing")],
    )
    checked, _ = check_answer(AnswerForm("declined", decline_reason="No consent"), TODAY, ALLOWED)
    assert checked is not None and checked.decline_reason == "No consent"


@pytest.mark.parametrize(
    "form",
    [
        AnswerForm("deleted"),
        AnswerForm("no-information", uploads=(PDF,)),
        AnswerForm("answered", (Entry("a", known="maybe"),)),
    ],
)
def test_a_reply_no_page_sends_is_a_bad_form(form: AnswerForm) -> None:
    with pytest.raises(BadForm):
        check_answer(form, TODAY, ALLOWED)


def test_uploads_are_checked_by_type_extension_and_content_and_fail_closed() -> None:
    assert check_upload(PDF, ALLOWED) == ("report.pdf", "application/pdf", PDF.data)
    assert check_upload(Upload("report.txt", "application/pdf", PDF.data), ALLOWED) == "wrong-type"
    assert check_upload(Upload("a.pdf", "application/pdf", b""), ALLOWED) == "empty"
    assert check_upload(Upload("a.png", "image/png", b"\x89PNG\r\n\x1a\n"), ALLOWED) == (
        "wrong-type"  # a real PNG, but not a type these settings allow
    )
    assert not sniff("application/x-msdownload", b"MZ")  # no sniffer: refused
    assert not sniff(DOCX, b"PK\x03\x04 not a zip")
    assert not sniff("text/plain", b"nul\x00")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\pc\\Résumé final.DOCX", "Resume final.docx"),
        ("%2e%2e%2fsecret.pdf", "secret.pdf"),
        (".bashrc", "bashrc"),
        ("exe\u202efdp.scr", "exe_fdp.scr"),
        ("", "attachment"),
        ("a" * 300 + ".pdf", "a" * 96 + ".pdf"),  # 100 characters in all
    ],
)
def test_stored_filenames_are_a_small_safe_ascii_set(given: str, kept: str) -> None:
    assert safe_filename(given) == kept
