"""Turning the strings a referral carries into clean values: text, dates, yes/no, numbers.

Both readers (the plain-text form and ``referral.json``) use these, so a date or a yes/no
means the same whichever way the police sent it. Every function here is total: it returns
``None`` for what it cannot understand and never raises, because the caller turns ``None``
into a parse problem the team leader can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

# Referral times are written in UK local time (DESIGN.md, [hub] timezone).
LONDON = ZoneInfo("Europe/London")

MAX_VALUE_CHARS = 2_000
# Police summaries run long; only a summary past this is cut (and sent to triage).
MAX_SUMMARY_CHARS = 50_000
SUMMARY_CUT = (
    f"summary longer than {MAX_SUMMARY_CHARS} characters, cut short: see the original mail"
)
# A person's extra labelled facts, and children, kept per referral (either reader).
MAX_DETAILS = 40
MAX_CHILDREN = 20

# Control characters (C0 but newline and tab, DEL, C1), lone surrogates (from odd
# charsets; they cannot be stored as UTF-8) and bidi overrides (they reorder text on
# screen, a known spoofing trick). Removed from every value we keep.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str, limit: int = MAX_VALUE_CHARS) -> str | None:
    """Plain, trimmed text with no control characters, at most ``limit`` characters.

    Markup is left as it is: values are plain text and the web layer escapes them.
    Returns ``None`` for an empty result, so "Name:" with nothing after it means missing.
    """
    text = _UNWANTED.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("\u00a0", " ").strip()
    return text[:limit].rstrip() or None


@lru_cache(maxsize=4096)
def label_key(label: str) -> str:
    """The comparable form of a form label: "D.O.B." -> "dob", "E-mail" -> "email".

    Lower case, bracketed hints dropped ("Date of birth (dd/mm/yyyy)"), dots, hyphens and
    apostrophes removed, anything else that is not a letter or digit turned into a space.
    Cached: the same few dozen labels come in every mail.
    """
    text = _BRACKETS.sub(" ", label.lower())
    text = _JOINERS.sub("", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def snake_key(label: str) -> str:
    """A details key from a label: "Relationship to victim" -> "relationship_to_victim"."""
    return label_key(label).replace(" ", "_")[:60].strip("_")


_BRACKETS = re.compile(r"\([^()]{0,80}\)|\[[^\[\]]{0,80}\]")
_JOINERS = re.compile(r"[.\-'\u2019`]")
_NON_WORD = re.compile(r"[^0-9a-z]+")

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

# Dates outside these years are typing mistakes, not referral data.
MIN_YEAR, MAX_YEAR = 1900, 2200
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}(?:[t ]|$)")
# Each pattern is anchored on digits with bounded repeats: no backtracking blow-up.
_YEAR_FIRST = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_DAY_FIRST = re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?!\d)")
_WORDY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s-]+([a-z]{3,9})\.?,?[\s-]+(\d{4})(?!\d)")
_CLOCK = re.compile(
    r"(?:at|@|t)?\s*(\d{1,2})(?:[:.](\d{2})(?:[:.](\d{2}))?|(\d{2}))?\s*(am|pm|hrs|hours|h)?"
)


def _year(text: str, reference_year: int | None) -> int | None:
    """A four-digit year, or a two-digit one read as the latest year not after the mail."""
    year = int(text)
    if len(text) == 4:
        return year
    if reference_year is None:
        return None
    century = reference_year - reference_year % 100
    return century + year if century + year <= reference_year else century - 100 + year


def _find_date(text: str, reference_year: int | None) -> tuple[date | None, str] | None:
    """The first date in ``text`` and what surrounds it, or ``None`` when there is none."""
    for pattern in (_YEAR_FIRST, _DAY_FIRST, _WORDY):
        match = pattern.search(text)
        if match is None:
            continue
        first, second, third = match.groups()
        rest = f"{text[: match.start()]} {text[match.end() :]}"
        if pattern is _YEAR_FIRST:
            year: int | None = int(first)
            month: int | None = int(second)
            day = int(third)
        elif pattern is _DAY_FIRST:
            # UK day-first, always: 05/02/1994 is the 5th of February.
            year, month, day = _year(third, reference_year), int(second), int(first)
        else:
            year, month, day = int(third), _MONTHS.get(second), int(first)
        if year is None or month is None or not MIN_YEAR <= year <= MAX_YEAR:
            return None, rest
        try:
            return date(year, month, day), rest
        except ValueError:
            return None, rest
    return None


def parse_date(text: str, reference_year: int | None = None) -> date | None:
    """A UK day-first or ISO date: 02/05/1994, 2-5-1994, 02.05.1994, 1994-05-02, 2 May 1994.

    Two-digit years need ``reference_year`` (the year the mail was sent): without it we
    would be guessing a century, and a wrong date of birth is worse than a missing one.
    """
    found = _find_date(text.lower(), reference_year)
    return None if found is None else found[0]


def parse_datetime(text: str, reference_year: int | None = None) -> datetime | None:
    """An incident date with an optional time, as an aware datetime in UK local time.

    "12/03/2026 01:00", "12/03/2026 at 0100hrs", "2026-03-12T01:00" and ISO 8601 with an
    offset are all understood; a time without an offset is Europe/London wall-clock time.
    A date alone means midnight at the start of that day.
    """
    text = text.strip().lower()
    if not text:
        return None
    parsed = None
    if _ISO_START.match(text):
        try:
            parsed = datetime.fromisoformat(text.upper())
        except ValueError:
            pass
    if parsed is not None:
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=LONDON)
    found = _find_date(text, reference_year)
    if found is None:
        return None
    day, rest = found
    if day is None:
        return None
    words = rest.replace(",", " ").split()
    clock = parse_time(" ".join(word for word in words if word not in _FILLERS))
    if clock is None:
        return None
    return datetime.combine(day, clock, tzinfo=LONDON)


def parse_time(text: str) -> time | None:
    """A time of day from what follows a date ("01:00", "1am", "0100hrs"); "" is midnight."""
    text = text.strip(" ,;-\t").lower()
    if text in ("", "at"):
        return time(0, 0)
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour_text, minute_text, second_text, packed, suffix = match.groups()
    hour = int(hour_text)
    minute = int(minute_text or packed or 0)
    if packed and len(hour_text) != 2:
        return None
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    elif minute_text is None and packed is None and suffix is None:
        return None  # a bare number is not a time
    try:
        return time(hour, minute, int(second_text or 0))
    except ValueError:
        return None


# Words police put around an incident time that say nothing about it.
_FILLERS = frozenset(
    "mon monday tue tues tuesday wed wednesday thu thur thurs thursday fri friday sat "
    "saturday sun sunday on at approx approx. approximately about around circa c.".split()
)

_YES = frozenset(("yes", "y", "true", "present", "1"))
_NO = frozenset(("no", "n", "false", "none", "not", "0", "nil"))


def parse_yes_no(text: str) -> bool | None:
    """Yes/No from its first word ("Yes - both", "No."), ``None`` when it is neither."""
    words = label_key(text[:40]).split()
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


_LEADING_NUMBER = re.compile(r"\s*(\d{1,3})(?!\d)")


def parse_score(text: str) -> int | None:
    """A DASH score: the leading whole number ("16", "16/24", "16 ticks")."""
    match = _LEADING_NUMBER.match(text)
    return int(match.group(1)) if match else None


_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
)


def find_email(text: str) -> str | None:
    """The first email address in a value ("PC Holt <s.holt@x.uk>", "mailto:..."), lower-cased."""
    match = _EMAIL.search(text[:MAX_VALUE_CHARS])
    return match.group(0).lower() if match else None


Value = TypeVar("Value")


def understood(
    text: str | None, parse: Callable[[str], Value | None], what: str, problems: list[str]
) -> Value | None:
    """``parse(text)``, noting "<what> not understood" in ``problems`` when it fails.

    ``None`` text (the field was not given) is no problem; a value that was given and
    cannot be read is, and the problem names the field, never the value.
    """
    if text is None:
        return None
    value = parse(text)
    if value is None:
        problems.append(f"{what} not understood")
    return value
