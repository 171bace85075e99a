"""One line of display text from outsiders' characters: the rule shared by mail subjects,
attachment names and stored filenames."""

from __future__ import annotations

import re

# Control characters (C0, DEL, C1) become spaces; lone surrogates (from odd charsets)
# and bidi overrides and isolates (they reorder text on screen, a known spoofing trick)
# are removed; runs of spaces of any width become one.
_INVISIBLE = re.compile("[\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u3000]+")


def clean_line(value: str, limit: int) -> str:
    """One line of display text: controls become spaces, invisible characters go, runs
    of spaces become one; trimmed and cut to ``limit`` characters."""
    text = _CONTROLS.sub(" ", _INVISIBLE.sub("", value))
    return _SPACES.sub(" ", text).strip()[:limit].rstrip()
