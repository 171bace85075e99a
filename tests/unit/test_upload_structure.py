"""Uploads are checked by their structure, not only their first bytes: a web page behind a
PDF header, a .docx with macros, and a zip bomb are refused; each has a twin that passes."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from hub.domain.uploads import (
    DOCX,
    MAX_EXPANDED_BYTES,
    Upload,
    check_upload,
    download_headers,
    sniff,
)

ALLOWED = ("application/pdf", "image/png", DOCX, "text/plain")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
XREF_STREAM_PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\nstartxref\n9\n%%EOF"


def docx(*extra: tuple[str, bytes], content_types: bytes = b"<Types/>") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("word/document.xml", "<w:document/>")
        for name, data in extra:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_pdf_header_on_a_web_page_is_not_a_pdf() -> None:
    assert not sniff("application/pdf", b"%PDF-1.4\n<html><script>alert(1)</script></html>")
    assert not sniff("application/pdf", b"%PDF-1.4\n" + b"0" * 5000)  # no trailer, no %%EOF
    assert not sniff("application/pdf", b"%PDF-1.4\n<html>" + PDF[9:])  # markup up front
    assert not sniff("application/pdf", PDF + b"\n" + b"x" * 2000)  # %%EOF not at the end
    assert check_upload(Upload("a.pdf", "application/pdf", b"%PDF-1.4\n<html>"), ALLOWED) == (
        "wrong-type"
    )
    # Twins: a classic trailer and a cross-reference stream both pass
    assert sniff("application/pdf", PDF) and sniff("application/pdf", XREF_STREAM_PDF)


def test_a_docx_with_macros_or_activex_is_refused() -> None:
    for part in ("word/vbaProject.bin", "word/VBAPROJECT.BIN", "word/activeX/activeX1.xml"):
        assert not sniff(DOCX, docx((part, b"\x00code"))), part
    macro_types = (
        b'<Types><Override ContentType="application/vnd.ms-word.document.'
        b'macroEnabled.main+xml"/></Types>'
    )
    assert not sniff(DOCX, docx(content_types=macro_types))
    assert check_upload(Upload("a.docx", DOCX, docx(("word/vbaProject.bin", b"x"))), ALLOWED) == (
        "wrong-type"
    )
    assert sniff(DOCX, docx(("word/styles.xml", b"<w:styles/>")))  # twin: a plain document


def test_a_docx_that_expands_too_far_is_refused_without_inflating_it() -> None:
    bomb = docx(("word/media/fill.bin", b"\x00" * (200 * 1024 * 1024)))
    assert len(bomb) < 1024 * 1024  # a small upload...
    assert zipfile.ZipFile(io.BytesIO(bomb)).getinfo("word/media/fill.bin").file_size > (
        MAX_EXPANDED_BYTES
    )
    assert not sniff(DOCX, bomb)  # ...that declares 200 MB: refused by its own account
    # Under the total but expanding a thousandfold: refused by its ratio
    assert not sniff(DOCX, docx(("word/media/fill.bin", b"\x00" * (8 * 1024 * 1024))))
    photo = random.Random(1).randbytes(1024 * 1024)  # a photo barely compresses
    assert sniff(DOCX, docx(("word/media/photo.jpeg", photo)))  # twin


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17, True),
        (b"\x89PNG\r\n\x1a\n<html>", False),
    ],
)
def test_a_png_needs_its_header_chunk(data: bytes, ok: bool) -> None:
    assert sniff("image/png", data) is ok


def test_text_is_served_to_staff_as_a_plain_text_download() -> None:
    headers = download_headers("notes.txt", "text/plain")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="notes.txt"'
    assert download_headers('a"; x.pdf', "application/pdf")["Content-Disposition"].count('"') == 2
