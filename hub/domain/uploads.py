"""What an agency's uploaded file must be to be kept: a type the hub allows, the
extension that goes with that type, and content that looks like it.

The declared type and the name are the sender's say-so; the content is checked by its
structure, not only its first bytes, so that a renamed executable or a web page is not
passed on to case workers as a "PDF": a PDF needs its header, objects and a trailer
with ``%%EOF`` in its last kilobyte (ISO 32000-1 7.5) and no HTML up front; a PNG its
IHDR chunk; a .docx its parts, no macros (``vbaProject.bin``) or ActiveX, and an
archive that does not expand too far (declared sizes, ratio and entries checked, then
every entry read with a cap, so a lying header cannot make it expand further). Text is
UTF-8 without NULs and is handed to staff as a plain-text download
(:func:`download_headers`). Fail closed: a type the settings allow that has no
extension or sniffer here is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from hub.domain.filenames import safe_filename

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# The extension that each allowed type must come with.
EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    DOCX: (".docx",),
    "text/plain": (".txt",),
}

UploadProblem = Literal["wrong-type", "empty"]


@dataclass(frozen=True)
class Upload:
    """A file as it was sent: the sender's name and declared type, and its bytes."""

    filename: str
    content_type: str
    data: bytes


# A .docx may not expand beyond these (a zip bomb is refused before it is inflated).
MAX_EXPANDED_BYTES = 64 * 1024 * 1024
MAX_ENTRY_RATIO = 200  # expanded / compressed, per entry (text XML is rarely over 20)
MAX_ENTRIES = 2000
_READ_CHUNK = 64 * 1024
# Parts that carry code: VBA macros, ActiveX controls.
_CODE_PARTS = ("vbaproject.bin", "vbadata.xml", "/activex/")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError)


def _bounded(infos: list[zipfile.ZipInfo]) -> bool:
    """The archive's own account of itself: few entries, no code, modest expansion."""
    if len(infos) > MAX_ENTRIES:
        return False
    total = 0
    for info in infos:
        name = "/" + info.filename.lower()
        if any(part in name for part in _CODE_PARTS):
            return False
        total += info.file_size
        if info.file_size > MAX_ENTRY_RATIO * max(info.compress_size, 1):
            return False
    return total <= MAX_EXPANDED_BYTES


def _inflates_within_bounds(archive: zipfile.ZipFile) -> bool:
    """Read every entry, counting what comes out (CRCs checked by zipfile on the way)."""
    total = 0
    for info in archive.infolist():
        with archive.open(info) as entry:
            while chunk := entry.read(_READ_CHUNK):
                total += len(chunk)
                if total > MAX_EXPANDED_BYTES:
                    return False
    return True


def _looks_like_docx(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        names = {info.filename for info in infos}
        if not {"[Content_Types].xml", "word/document.xml"} <= names or not _bounded(infos):
            return False
        if b"macroenabled" in archive.read("[Content_Types].xml").lower():
            return False
        return _inflates_within_bounds(archive)
    except _ZIP_ERRORS:
        return False


_PDF_HEADER = re.compile(rb"%PDF-[12]\.[0-9]")
_HTML_MARKERS = (b"<html", b"<!doctype", b"<script", b"<body", b"<head", b"<iframe", b"<svg")


def _looks_like_pdf(data: bytes) -> bool:
    """Header, at least one object, a trailer (or cross-reference stream) and ``%%EOF``
    in the last 1024 bytes (ISO 32000-1 7.5.5), and no markup a browser would render."""
    if not _PDF_HEADER.match(data):
        return False
    tail = data[-1024:]
    if b"%%EOF" not in tail or not (b"trailer" in data[-65536:] or b"startxref" in tail):
        return False
    if b"endobj" not in data:
        return False
    head = data[:1024].lower()
    return not any(marker in head for marker in _HTML_MARKERS)


def _looks_like_png(data: bytes) -> bool:
    # PNG 5.2-5.3: the signature, then the IHDR chunk, 13 bytes long, first.
    return data.startswith(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def _looks_like_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _starts_with(magic: bytes) -> Callable[[bytes], bool]:
    return lambda data: data.startswith(magic)


_SNIFFERS: Mapping[str, Callable[[bytes], bool]] = {
    "application/pdf": _looks_like_pdf,
    "image/png": _looks_like_png,
    "image/jpeg": _starts_with(b"\xff\xd8\xff"),
    DOCX: _looks_like_docx,
    "text/plain": _looks_like_text,
}


def sniff(content_type: str, data: bytes) -> bool:
    """Whether ``data`` is what ``content_type`` says, by its structure."""
    sniffer = _SNIFFERS.get(content_type)
    return sniffer is not None and sniffer(data)


def check_upload(
    upload: Upload, allowed_types: Collection[str]
) -> tuple[str, str, bytes] | UploadProblem:
    """The file as it is kept (safe name, type, bytes), or what is wrong with it."""
    name = safe_filename(upload.filename)
    ext = "." + name.rpartition(".")[2].lower() if "." in name else ""
    kind = upload.content_type
    if kind not in allowed_types or ext not in EXTENSIONS.get(kind, ()):
        return "wrong-type"
    if not upload.data:
        return "empty"
    if not sniff(kind, upload.data):
        return "wrong-type"
    return (name, kind, upload.data)


def download_headers(filename: str, content_type: str) -> dict[str, str]:
    """The headers a kept file is served to staff with: always a download, never shown
    inline, and text as ``text/plain; charset=utf-8`` so no browser guesses it is HTML."""
    if content_type == "text/plain":
        content_type = "text/plain; charset=utf-8"
    name = safe_filename(filename)
    return {
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
    }
