"""Terminals are safe: outsiders' text (answers, replies, referrals, From: headers) reaches
a staff terminal with every control and bidirectional character escaped, and its lines
quoted, so an agency can neither drive the terminal nor fake a line of the hub's."""

from __future__ import annotations

import argparse
import json
import unicodedata
from typing import Any

import pytest

from hub.cli.cases import case_text
from hub.cli.common import QUOTE, listing, print_json, printable, quoted, safe, show
from hub.cli.info_requests import request_text

TITLE = "\x1b]0;pwned\x07"  # OSC 0: sets the window title
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: writes the clipboard
RESET = "\x1bc"  # RIS: resets the terminal
CSI_C1 = "\x9b2J"  # C1 CSI: clears the screen on terminals that honour 8-bit controls
BIDI = "\u202eexe.txt\u202c\u2066x\u2069\u200f"  # override, isolates, mark
FAKE = "\nRQ-2026-000001  case MR-2026-000001  status answered\nanswer by link at now:"
HOSTILE = f"Seen{TITLE}{CLIPBOARD}{RESET}{CSI_C1}{BIDI}\r{FAKE}"


def _raw_controls(text: str) -> list[str]:
    """Characters that would reach the terminal as controls (newline and tab aside)."""
    return [
        f"U+{ord(ch):04X}"
        for ch in text
        if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")
    ]


def test_safe_escapes_every_control_and_bidi_character_on_one_line() -> None:
    out = safe(HOSTILE)
    assert _raw_controls(out) == [] and "\n" not in out
    assert "\\x1b]0;pwned\\x07" in out and "\\x9b" in out and "\\u202e" in out
    assert safe("Zoë O'Brien\tGP") == "Zoë O'Brien\tGP"  # ordinary text untouched


def test_quoted_text_cannot_fake_a_line_of_the_hub() -> None:
    out = quoted(HOSTILE, "  ")
    lines = out.split("\n")
    assert len(lines) == 3 and all(line.startswith("  " + QUOTE) for line in lines)
    assert _raw_controls(out) == []


def _answer(**content: Any) -> dict[str, Any]:
    return {
        "channel": "email",
        "received_at": "2026-03-13T10:00:00Z",
        "kind": "answered",
        "content": content,
    }


def test_requests_show_escapes_and_quotes_an_agencys_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = {
        "ref": "RQ-2026-000001",
        "case_ref": "MR-2026-000001",
        "agency": "st-aidans-primary",
        "status": "answered-by-email",
        "due_at": "2026-03-19T09:00:00Z",
        "envelope": {"document": {"persons": [], "questions": [{"id": "q1", "text": "Known?"}]}},
        "answers": [
            _answer(
                **{"from": f"Evil{TITLE} <x@evil.example>"},
                text=HOSTILE,
                decline_reason=HOSTILE,
                answers=[{"question_id": "q1", "known": True, "text": HOSTILE}],
                attachments=[{"filename": f"a{BIDI}.pdf", "size": 3}],
            )
        ],
    }
    show(request_text(found))
    out = capsys.readouterr().out
    assert _raw_controls(out) == []
    # The hub's own lines are the only ones not quoted; the agency's lines all are.
    own = [line for line in out.splitlines() if QUOTE not in line]
    assert not any(line.startswith("RQ-2026-000001  case") for line in own[1:])
    assert sum(line.lstrip().startswith(QUOTE + "RQ-2026-000001") for line in out.splitlines()) == 3


def test_cases_show_escapes_a_referrals_fields(capsys: pytest.CaptureFixture[str]) -> None:
    person = {"name": f"Emma{RESET}", "date_of_birth": None, "address": HOSTILE, "details": {}}
    case = {
        "ref": "MR-2026-000001", "status": "open", "received_at": "2026-03-12T09:00:00Z",
        "risk_level": "High", "force_reference": f"LC{TITLE}", "repeat_of": None,
        "problems": [HOSTILE], "referrer": {"name": f"PC{CLIPBOARD}", "email": "a@b"},
        "forwarded_by": f"x{BIDI}", "victim": person, "perpetrator": None, "children": [],
        "summary": HOSTILE, "attachments": [],
    }  # fmt: skip
    show(case_text(case))
    out = capsys.readouterr().out
    assert _raw_controls(out) == [] and "Emma\\x1bc" in out
    assert not any(line.startswith("RQ-2026") for line in out.splitlines())


def test_listings_and_json_escape_what_a_line_forgot(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(json=False)
    listing(args, [{"sender": f"x{TITLE}@evil.example"}], "none", lambda r: f"#1 {r['sender']}")
    assert _raw_controls(capsys.readouterr().out) == []
    print_json({"text": HOSTILE})
    out = capsys.readouterr().out
    assert _raw_controls(out) == [] and json.loads(out) == {"text": HOSTILE}
    assert printable("one\ntwo\x1b") == "one\ntwo\\x1b"
