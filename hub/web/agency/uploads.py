"""Reading the agency's forms off the wire, under caps: the small link forms and the
multipart answer form with its files.

``client_max_size`` is aiohttp's cap for ``request.post()`` only, so the small forms read
through a clone with a cap of their own (:data:`SMALL_FORM_BYTES`), and the answer form
is streamed part by part under :func:`body_cap` (a ``Content-Length`` above it is
refused before a byte is read, by the handler). Files over the upload allowance are read
to their end and dropped, so the rest of the form can be shown again with the error.
Whether a file is acceptable is the domain's question (:mod:`hub.domain.uploads`).

Every body is read under :func:`reading`: within ``[web] body_timeout_seconds`` (else
408, and the connection is closed), and bytes no page of ours sends (a malformed
multipart part, a 200 KB part header) are a 400, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict

from hub.domain.answers import MAX_FILES, BadForm
from hub.domain.uploads import Upload
from hub.services.context import Context
from hub.web.state import CONTEXT

log = logging.getLogger("hub.web.agency")

# The code, verify and renew forms: a CSRF token and six digits.
SMALL_FORM_BYTES = 16 * 1024
# Everything in the answer form except the files: the answers' text, dates, radios.
FIELDS_ALLOWANCE = 1024 * 1024
# One text field: 20,000 characters of up to 4 bytes in UTF-8, with room for CRLFs.
FIELD_BYTES = 128 * 1024
MAX_PARTS = 1000
CHUNK = 64 * 1024


class TooLarge(Exception):
    """The body went over the hard cap: reading stopped."""


@dataclass
class ReadForm:
    """The answer form as read: its fields, the files kept, and what was dropped."""

    fields: MultiDict[str]
    uploads: list[Upload]
    files_too_big: bool = False
    too_many_files: bool = False


@dataclass
class _Tally:
    """Bytes read so far, across all parts, against the two caps."""

    cap: int
    file_cap: int
    total: int = 0
    file_bytes: int = 0
    too_big: bool = False
    parts: int = 0


def body_cap(ctx: Context) -> int:
    """The most the answer form may send: the files' allowance plus the fields'."""
    return ctx.settings.requests.max_upload_bytes + FIELDS_ALLOWANCE


@contextlib.asynccontextmanager
async def reading(request: web.Request) -> AsyncIterator[None]:
    """Read a request's body within ``[web] body_timeout_seconds`` (else 408), and
    answer 400 to bytes that are not the form they claim to be (aiohttp's parsers raise
    ``ValueError`` or an ``HttpProcessingError`` such as ``LineTooLong`` for those)."""
    seconds = request.app[CONTEXT].settings.web.body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        log.info("event=web.body_timeout seconds=%g", seconds)
        raise web.HTTPRequestTimeout() from None
    except (HttpProcessingError, ValueError) as exc:
        log.info("event=agency.bad_form reason=%s", type(exc).__name__)
        raise web.HTTPBadRequest() from None


async def read_small_form(request: web.Request) -> MultiDict[str]:
    """A small POSTed form (code, verify, renew), read under a cap of its own."""
    async with reading(request):
        form = await request.clone(client_max_size=SMALL_FORM_BYTES).post()
    return MultiDict((k, v) for k, v in form.items() if isinstance(v, str))


async def read_urlencoded(request: web.Request) -> ReadForm:
    """The answer form sent without files (no multipart), under the fields' allowance."""
    async with reading(request):
        posted = await request.clone(client_max_size=FIELDS_ALLOWANCE).post()
    return ReadForm(MultiDict((k, v) for k, v in posted.items() if isinstance(v, str)), [])


async def read_multipart(request: web.Request, cap: int, file_cap: int) -> ReadForm:
    """Stream the form's parts under ``cap`` bytes in all; files beyond ``file_cap`` bytes
    together are read to their end (still under ``cap``) and dropped. Raises
    :class:`TooLarge` past ``cap`` and :class:`BadForm` for a form no page sends."""
    async with reading(request):
        return await _read_parts(request, cap, file_cap)


async def _read_parts(request: web.Request, cap: int, file_cap: int) -> ReadForm:
    reader = await request.multipart()
    form = ReadForm(MultiDict(), [])
    tally = _Tally(cap, file_cap)
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadForm("nested multipart")
        tally.parts += 1
        if tally.parts > MAX_PARTS:
            raise BadForm("too many parts")
        is_file = part.filename is not None
        if is_file and part.name != "attachment":
            raise BadForm("a file in a field that takes none")
        data = await _read_part(part, tally, is_file)
        if is_file:
            _keep_file(form, part, data, tally.too_big)
        else:
            form.fields.add(part.name or "", data.decode("utf-8", errors="replace"))
    form.files_too_big = tally.too_big
    return form


async def _read_part(part: BodyPartReader, tally: _Tally, is_file: bool) -> bytes:
    """One part's bytes (a field's cut at :data:`FIELD_BYTES`); a file that takes the
    files over their cap is read on and dropped, and marks the tally."""
    kept = bytearray()
    keep_limit = tally.file_cap if is_file else FIELD_BYTES
    while chunk := await part.read_chunk(CHUNK):
        tally.total += len(chunk)
        if tally.total > tally.cap:
            raise TooLarge()
        if is_file:
            tally.file_bytes += len(chunk)
            if tally.file_bytes > tally.file_cap:
                tally.too_big = True
                kept.clear()
                continue
        if len(kept) < keep_limit:
            kept += chunk[: keep_limit - len(kept)]
    return bytes(kept)


def _keep_file(form: ReadForm, part: BodyPartReader, data: bytes, too_big: bool) -> None:
    """Keep a file part, unless the files went over their cap, the part is the empty one
    of "no file chosen", or :data:`MAX_FILES` are kept already."""
    if too_big or (not part.filename and not data):
        return
    if len(form.uploads) == MAX_FILES:
        form.too_many_files = True
        return
    declared = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    form.uploads.append(Upload(part.filename or "", declared, data))
