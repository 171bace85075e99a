"""Filenames from outsiders, made safe: one set of pieces, two uses.

A filename arrives from a sender we do not control (a mail attachment, an upload) and
may hold a path ("..\\..\\x.docx"), control characters, bidi overrides that reorder it
on screen ("exe\\u202efdp.scr" shows as "exerscs.pdf"), or run to thousands of
characters. Two uses want different strictness:

- :func:`sanitise_filename` names a file to *show* (mail attachments): Unicode kept, so
  "Référé.pdf" reads as sent; path, controls and bidi removed; long names cut keeping the
  extension.
- :func:`safe_filename` names a file to *store and send on* (agency uploads): a small
  ASCII set only, accents folded, no leading dot, at most 100 characters. The server
  never uses it as a path either (STYLE.md: server-chosen paths, never uploaded names).
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

from hub.domain.text import clean_line

MAX_DISPLAY_CHARS = 120
DEFAULT_DISPLAY_NAME = "attachment.bin"
MAX_STORED_CHARS = 100
DEFAULT_STORED_STEM = "attachment"
# An extension longer than this is not one a reader would recognise.
MAX_EXTENSION_CHARS = 10

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._ -]")


def basename(name: str) -> str:
    """The last path component, whichever separator the sender's system used."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def split_extension(name: str) -> tuple[str, str]:
    """``(stem, extension)`` split at the last dot; ``(name, "")`` when there is none."""
    stem, dot, extension = name.rpartition(".")
    return (stem, extension) if dot else (name, "")


def _stem_room(limit: int, extension: str) -> int:
    """How much of the stem fits in ``limit`` characters beside ``.extension``."""
    return limit - len(extension) - 1


def sanitise_filename(name: str | None) -> str:
    """A filename safe to show and to store as metadata: no path, no controls, bounded.

    Only the last path component is kept ("..\\..\\x.docx" -> "x.docx"), controls and
    bidi overrides are removed, and long names keep their extension when cut.
    """
    if not name:
        return DEFAULT_DISPLAY_NAME
    base = clean_line(basename(name), 10_000).strip(" .")
    if not base:
        return DEFAULT_DISPLAY_NAME
    if len(base) <= MAX_DISPLAY_CHARS:
        return base
    stem, extension = split_extension(base)
    if stem and 0 < len(extension) <= MAX_EXTENSION_CHARS:
        return f"{stem[: _stem_room(MAX_DISPLAY_CHARS, extension)].rstrip()}.{extension}"
    return base[:MAX_DISPLAY_CHARS].rstrip()


def safe_filename(raw: str) -> str:
    """A safe basename: no directories, no control or look-alike characters, no leading
    dot, at most 100 characters, its extension kept."""
    # Browsers send the name as typed (with '"' as %22); other clients percent-encode it.
    name = basename(urllib.parse.unquote(raw))
    # Accents dropped (résumé: resume), then anything outside a small safe set replaced.
    name = "".join(
        c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c) != "Mn"
    )
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"[ _]{2,}", "_", name).strip(" ._-")
    stem, extension = split_extension(name)
    extension = extension[:MAX_EXTENSION_CHARS].lower()
    stem = stem.strip(" ._-")[: _stem_room(MAX_STORED_CHARS, extension)] or DEFAULT_STORED_STEM
    return f"{stem}.{extension}" if extension else stem
