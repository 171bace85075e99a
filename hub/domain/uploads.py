"""What an agency's uploaded file must be to be kept: a type the hub allows, the
extension that goes with that type, and content that looks like it.

The declared type and the name are the sender's say-so; the content is checked by its
magic bytes (and, for .docx, the names in its zip directory) so that a renamed
executable is not passed on to case workers as a "PDF". Fail closed: a type the
settings allow that has no extension or sniffer here is refused.
"""

from __future__ import annotations

import io
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


def _looks_like_docx(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        # The central directory only: nothing is decompressed.
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return False
    return {"[Content_Types].xml", "word/document.xml"} <= names


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
    "application/pdf": _starts_with(b"%PDF-"),
    "image/png": _starts_with(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": _starts_with(b"\xff\xd8\xff"),
    DOCX: _looks_like_docx,
    "text/plain": _looks_like_text,
}


def sniff(content_type: str, data: bytes) -> bool:
    """Whether ``data`` looks like ``content_type`` (magic bytes; structure for .docx)."""
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
