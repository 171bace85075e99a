"""How values read on the agency's pages: dates, sizes and the allowed file types,
written the GOV.UK way ("27 March 2026", "10 MB", "PDF, PNG or JPEG")."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

from hub.domain.uploads import DOCX, EXTENSIONS

TYPE_NAMES: Mapping[str, str] = {
    "application/pdf": "PDF",
    DOCX: "Word (.docx)",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "text/plain": "plain text (.txt)",
}


def friendly_date(value: str | None) -> str:
    """An ISO date as "27 March 2026"; "Not known" for none, unreadable ones as given."""
    if not value:
        return "Not known"
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.day} {day:%B %Y}"


def size_text(size: int) -> str:
    """A byte count as "10 MB", "1.5 MB" or "300 KB"."""
    mib = 1024 * 1024
    if size >= mib and size % mib == 0:
        return f"{size // mib} MB"
    if size >= mib:
        return f"{size / mib:.1f} MB"
    return f"{max(1, size // 1024)} KB"


def allowed_names(upload_types: Collection[str]) -> str:
    """The file types the hub takes, as a list a person reads: "PDF, PNG or JPEG"."""
    names = [TYPE_NAMES.get(t, t) for t in upload_types if t in EXTENSIONS]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
