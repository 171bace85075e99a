"""A corpus of malformed and hostile referral mails, each with its acceptable outcomes.

Every entry is a complete RFC 5322 message as it would be handed to the hub, in the order
it is meant to be delivered (later entries rely on earlier ones: the byte-for-byte resends
must come after their originals, and the Message-ID reuse after the first use). The small
hand-written messages live in ``tests/fixtures/hostile/`` and are loaded from there; the
rest, including the 20 MB attachment, are generated here from fixed seeds, so two calls
to :func:`corpus` return identical bytes.

Outcomes follow :class:`hub.domain.intake.Outcome`. Where the hub may reasonably go
either way between a clean case and a case in needs-triage the entry accepts both; the
quarantine, machine and duplicate expectations are exact. The hub decides machine mail
first, then the sender allowlist (``lancashire.police.uk``, exact domain), then the
form's completeness; a duplicate (same Message-ID and same bytes as an earlier message)
is recognised before all of that.

Delivery notes for whoever sends these over SMTP:

* Every message has CRLF line endings (files are stored with LF and converted here), so
  an SMTP client that normalises line endings does not change the bytes. Bytes the hub
  sees can still differ from ``raw`` if the delivery agent adds headers (Dovecot LMTP adds
  ``Return-Path``, ``Delivered-To`` and a ``Received`` line with a per-delivery id); the
  ``duplicate`` expectations only hold if the mailbox copy of a resend is byte-identical
  to the copy of its original (IMAP APPEND, or ``lmtp_add_received_header = no``).
* Lines are at most 998 bytes except in ``header-long-100kb`` (one 100 KB header line):
  aiosmtpd's default ``line_length_limit`` (1001) refuses it with "500 Line too long".
* ``attachment-20mb`` is about 27.4 MB on the wire: under aiosmtpd's default 32 MiB
  ``data_size_limit`` and the hub's default ``max_message_bytes`` (40 MiB).
* NUL bytes (``header-nul-bytes``, ``binary-*``) pass through aiosmtpd untouched; Dovecot
  may hand them back over IMAP as 0x80.
* ``bounce-mailer-daemon`` should be sent with an empty envelope sender (``MAIL FROM:<>``).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"

CASE = "case"
TRIAGE = "triage"
DUPLICATE = "duplicate"
QUARANTINE = "quarantine"
MACHINE = "machine"
OUTCOMES = frozenset({CASE, TRIAGE, DUPLICATE, QUARANTINE, MACHINE})

ONLY_CASE = frozenset({CASE})
ONLY_TRIAGE = frozenset({TRIAGE})
CASE_OR_TRIAGE = frozenset({CASE, TRIAGE})
ONLY_DUPLICATE = frozenset({DUPLICATE})
ONLY_QUARANTINE = frozenset({QUARANTINE})
ONLY_MACHINE = frozenset({MACHINE})

POLICE = "lancashire.police.uk"
CRLF = b"\r\n"


@dataclass(frozen=True)
class HostileMail:
    name: str  # short slug, unique
    raw: bytes  # the complete RFC 5322 message bytes
    outcomes: frozenset[str]  # acceptable outcomes
    note: str  # what it tests


# --------------------------------------------------------------------------- building


def crlf(data: bytes) -> bytes:
    """Every line ending (LF or CRLF) as CRLF; a lone CR is left alone."""
    return re.sub(rb"\r?\n", CRLF, data)


def officer(n: int) -> str:
    return f"test.officer{n}@{POLICE}"


FORM = """\
MARRAC REFERRAL

Force reference: {ref}
Referral reason: Visible high risk
DASH score: 15
Risk level: High
Division: South
Area: Preston

Referrer name: {referrer_name}
Referrer email: {referrer_email}
Referrer phone: 01772 000{n:03d}

Incident date: 01/04/2026 01:00
Incident location: {address}
Children present: No

== Victim ==
Name: {victim}
Date of birth: {dob}
Gender: Female
Address: {address}
Phone: 07700 900{n:03d}
Safe to contact: Yes
Aware of referral: Yes

== Perpetrator ==
Name: {perpetrator}
Date of birth: 02/02/1985
Gender: Male
Relationship to victim: Partner
Address: {address}
Custody: Released on bail

== Summary ==
{summary}
"""


def form_values(n: int, **fields: str) -> dict[str, object]:
    values: dict[str, object] = {
        "n": n,
        "ref": f"LC-20260401-{n:04d}",
        "referrer_name": f"PC {n} Test Officer",
        "referrer_email": officer(n),
        "victim": f"Test Victim {n}",
        "dob": f"{n % 28 + 1:02d}/{n % 12 + 1:02d}/{1960 + n % 40}",
        "perpetrator": f"Test Suspect {n}",
        "address": f"{n} Test Street, Preston PR1 0AA",
        "summary": f"Fictional hostile-corpus referral {n}.",
    }
    values.update(fields)
    return values


def form(n: int, **fields: str) -> str:
    """A complete plain-text referral form (a clean case) unique to ``n``."""
    return FORM.format(**form_values(n, **fields))


def form_json(n: int) -> dict[str, object]:
    """The same referral as the JSON attachment format (fixture 04)."""
    return {
        "force_reference": f"LC-20260401-{n:04d}",
        "referral_reason": "Visible high risk",
        "dash_score": 15,
        "risk_level": "High",
        "division": "South",
        "area": "Preston",
        "referrer": {"name": f"PC {n} Test Officer", "email": officer(n)},
        "incident": {"at": "2026-04-01T01:00:00+01:00", "location": "Preston"},
        "victim": {"name": f"Test Victim {n}", "date_of_birth": f"{1960 + n % 40}-03-14"},
        "perpetrator": {"name": f"Test Suspect {n}"},
        "children": [],
        "summary": f"Fictional hostile-corpus referral {n}.",
    }


Header = tuple[str, str | bytes]


def headers(n: int, **changes: str | bytes | None) -> list[Header]:
    """The usual header block for message ``n``; keyword names use ``_`` for ``-``.

    A value of ``None`` drops the header; unknown names are appended in order.
    """
    block: dict[str, str | bytes | None] = {
        "From": f"PC {n} Test Officer <{officer(n)}>",
        "To": "marrac-referrals@hub.test",
        "Subject": f"MARRAC referral LC-20260401-{n:04d}",
        "Date": f"Wed, 01 Apr 2026 {10 + n // 60 % 12:02d}:{n % 60:02d}:00 +0100",
        "Message-ID": f"<hostile-{n}@{POLICE}>",
        "MIME-Version": "1.0",
        "Content-Type": 'text/plain; charset="utf-8"',
        "Content-Transfer-Encoding": "8bit",
    }
    for key, value in changes.items():
        block[key.replace("_", "-")] = value
    return [(k, v) for k, v in block.items() if v is not None]


def _field(name: str, value: str | bytes) -> bytes:
    data = value if isinstance(value, bytes) else value.encode("utf-8")
    return name.encode("ascii") + b": " + data


def build(items: list[Header], body: bytes | str) -> bytes:
    """Header block, blank line, body; CRLF throughout, ending in CRLF."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    data = crlf(data)
    if data and not data.endswith(CRLF):
        data += CRLF
    head = CRLF.join(crlf(_field(k, v)) for k, v in items)
    return head + CRLF + CRLF + data


def part(content_type: str, body: bytes | str, *extra: str) -> bytes:
    """One MIME body part (headers and body, no boundary)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    head = "".join(f"{h}\r\n" for h in (f"Content-Type: {content_type}", *extra))
    return head.encode("utf-8") + CRLF + crlf(data)


def multipart(boundary: str, parts: list[bytes], preamble: bytes = b"") -> bytes:
    """A multipart body: preamble, each part after its delimiter, the close delimiter."""
    out = [preamble] if preamble else []
    for p in parts:
        out.append(b"--" + boundary.encode() + CRLF + p.rstrip(CRLF) + CRLF)
    out.append(b"--" + boundary.encode() + b"--" + CRLF)
    return b"".join(out)


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


def folded(chunks: list[str], sep: str = "\r\n ") -> str:
    """Chunks joined with folding whitespace (one chunk per continuation line)."""
    return sep.join(chunks)


def junk(seed: int, size: int) -> bytes:
    """Deterministic random bytes with NULs, cut into 64-byte lines (no CR or LF inside)."""
    data = bytearray(random.Random(seed).randbytes(size))
    data[0:1] = b"\x00"
    data = data.replace(b"\r", b"\x00").replace(b"\n", b"\x01")
    return CRLF.join(bytes(data[i : i + 64]) for i in range(0, len(data), 64)) + CRLF


# ---------------------------------------------------------------------- the messages


def _file(name: str) -> bytes:
    return crlf((FIXTURES / f"{name}.eml").read_bytes())


def clean(n: int, **changes: str | bytes | None) -> bytes:
    return build(headers(n, **changes), form(n))


def mime_nested_50() -> bytes:
    n = 205
    inner = part('text/plain; charset="utf-8"', form(n))
    for depth in range(49, 0, -1):
        inner = part(
            f'multipart/mixed; boundary="nest-{depth}"', multipart(f"nest-{depth}", [inner])
        )
    return build(
        headers(
            n, Content_Type='multipart/mixed; boundary="nest-0"', Content_Transfer_Encoding=None
        ),
        multipart("nest-0", [inner]),
    )


def mime_rfc822_nested_20() -> bytes:
    n = 206
    message_id = f"<hostile-{n}@{POLICE}>"  # every level claims the same id: loop-ish
    inner = clean(n, Message_ID=message_id)
    for level in range(1, 21):
        boundary = f"fwd-{level}"
        body = multipart(
            boundary,
            [
                part('text/plain; charset="us-ascii"', f"Forwarded, level {level}.\n"),
                part("message/rfc822", inner, "Content-Disposition: inline"),
            ],
        )
        items = headers(
            n,
            Subject="Fwd: " * level + f"MARRAC referral LC-20260401-{n:04d}",
            Message_ID=message_id,
            Content_Type=f'multipart/mixed; boundary="{boundary}"',
            Content_Transfer_Encoding=None,
        )
        inner = build(items, body)
    return inner


def mime_2000_parts() -> bytes:
    n = 207
    parts = [part('text/plain; charset="utf-8"', form(n))]
    parts += [part("text/plain", f"{i}\n") for i in range(1, 2000)]
    return build(
        headers(
            n, Content_Type='multipart/mixed; boundary="many-207"', Content_Transfer_Encoding=None
        ),
        multipart("many-207", parts),
    )


def charset_unknown() -> bytes:
    n = 208
    return build(
        headers(
            n,
            Subject=f"=?x-klingon-2026?Q?MARRAC_referral?= LC-20260401-{n:04d}",
            Content_Type='text/plain; charset="x-klingon-2026"',
        ),
        form(n),
    )


def charset_utf8_invalid() -> bytes:
    n = 209
    text = form(n, summary="Invalid UTF-8 follows: @@BAD@@ and a truncated sequence: @@CUT@@")
    bad = b"\xff\xfe \xc0\xaf \xed\xa0\x80 \xf8\x88\x80\x80\x80 \x80\x81"
    body = text.encode().replace(b"@@BAD@@", bad).replace(b"@@CUT@@", b"\xe2\x82")
    return build(headers(n, Subject=b"MARRAC referral \xff\xfe LC-20260401-0209"), body)


def charset_latin1_undeclared() -> bytes:
    n = 210
    text = form(n, victim=f"Test Victim {n} Zoë Ødegård", address=f"{n} Café Row, Preston PR1 0AA")
    return build(
        headers(n, Content_Type="text/plain", Content_Transfer_Encoding="8bit"),
        text.encode("latin-1"),
    )


def charset_utf16_bom() -> bytes:
    n = 211
    return build(
        headers(n, Content_Type='text/plain; charset="utf-16"', Content_Transfer_Encoding="base64"),
        b64(form(n).encode("utf-16")),  # Python writes the BOM for "utf-16"
    )


def charset_mixed() -> bytes:
    n = 212
    text = form(n, victim="@@NAME@@", address="@@ADDR@@", summary="@@SUM@@")
    body = (
        text.encode("ascii")
        .replace(b"@@NAME@@", f"Test Victim {n} Zoë".encode())
        .replace(b"@@ADDR@@", f"{n} Café Row".encode("latin-1"))
        .replace(
            b"@@SUM@@",
            "\u201csmart quotes\u201d \u20ac".encode("cp1252") + " 日本".encode("shift_jis"),
        )
    )
    subject = (
        "=?koi8-r?B?" + base64.b64encode("Направление".encode("koi8-r")).decode() + "?= "
        "=?shift_jis?B?" + base64.b64encode("紹介".encode("shift_jis")).decode() + "?= "
        "=?utf-8?Q?=E2=80=93?= LC-20260401-0212"
    )
    return build(
        headers(n, Subject=subject, Content_Type='text/plain; charset="iso-8859-1"'),
        body,
    )


def charset_utf7_markup() -> bytes:
    n = 213
    text = form(
        n, summary="<script>alert('utf-7')</script> +ADw-script+AD4-alert(1)+ADw-/script+AD4-"
    )
    return build(
        headers(n, Content_Type='text/plain; charset="utf-7"', Content_Transfer_Encoding="7bit"),
        text.encode("utf-7"),
    )


def ew_10000_subject() -> bytes:
    n = 214
    words = [f"=?utf-8?B?{base64.b64encode(f'w{i} '.encode()).decode()}?=" for i in range(10_000)]
    return build(headers(n, Subject=folded(words)), form(n))


@lru_cache(maxsize=1)
def attachment_20mb() -> bytes:
    n = 215
    blob = random.Random(1).randbytes(20_000_000)
    body = multipart(
        "big-215",
        [
            part('text/plain; charset="utf-8"', form(n), "Content-Transfer-Encoding: 8bit"),
            part(
                'application/octet-stream; name="bodycam-215.mp4"',
                b64(blob),
                "Content-Transfer-Encoding: base64",
                'Content-Disposition: attachment; filename="bodycam-215.mp4"',
            ),
        ],
    )
    return build(
        headers(
            n, Content_Type='multipart/mixed; boundary="big-215"', Content_Transfer_Encoding=None
        ),
        body,
    )


def binary_junk_body() -> bytes:
    n = 216
    return build(headers(n, Subject="MARRAC referral"), junk(216, 4096))


def binary_octet_stream() -> bytes:
    n = 217
    return build(
        headers(
            n,
            Subject="MARRAC referral",
            Content_Type="application/octet-stream",
            Content_Transfer_Encoding="binary",
        ),
        junk(217, 8192),
    )


def tnef_winmail() -> bytes:
    n = 218
    # TNEF signature 0x223E9F78 (little-endian), a legacy key, then noise.
    tnef = b"\x78\x9f\x3e\x22\x01\x00" + random.Random(218).randbytes(2048)
    body = multipart(
        "tnef-218",
        [
            part('text/plain; charset="us-ascii"', "Please see the attached referral.\n"),
            part(
                'application/ms-tnef; name="winmail.dat"',
                b64(tnef),
                "Content-Transfer-Encoding: base64",
                'Content-Disposition: attachment; filename="winmail.dat"',
            ),
        ],
    )
    return build(
        headers(
            n, Content_Type='multipart/mixed; boundary="tnef-218"', Content_Transfer_Encoding=None
        ),
        body,
    )


def forged(n: int, sender: str | bytes | None, **changes: str | bytes | None) -> bytes:
    """A clean form from a sender that is not on the allowlist."""
    return build(headers(n, From=sender, **changes), form(n))


def two_from_headers() -> bytes:
    n = 229
    items = headers(n, From=f"evil{n}@evil.example")
    items.insert(3, ("From", f"PC {n} Test Officer <{officer(n)}>"))
    return build(items, form(n))


def header_long_100kb() -> bytes:
    n = 250
    subject = f"MARRAC referral LC-20260401-{n:04d} " + "A" * 100_000
    return build(headers(n, Subject=subject), form(n))


def header_nul_bytes() -> bytes:
    n = 251
    return build(
        headers(
            n,
            To=b'"MARRAC\x00 Referrals" <marrac-referrals@hub.test>',
            Subject=b"MARRAC referral\x00 LC-20260401-0251\x00\x00",
            X_Nul=b"\x00",
            X_Custom=b"before\x00after\x00\x01\x02\x1b[31m",
        ),
        form(n),
    )


def header_nested_comments() -> bytes:
    n = 252
    depth = 5000
    opening = folded(["(" * 400] * (depth // 400) + ["(" * (depth % 400)])
    closing = folded([")" * 400] * (depth // 400) + [")" * (depth % 400)])
    comment = f"{opening}x{closing}"
    return build(
        headers(
            n,
            Date=f"Wed, 01 Apr 2026 10:52:00 +0100 {comment}",
            Cc=f"idva@hub.test {comment}",
            Reply_To=f"{comment} {officer(n)}",
            Comments=comment,
        ),
        form(n),
    )


def header_10000_fields() -> bytes:
    n = 253
    items = headers(n)
    items[5:5] = [(f"X-Filler-{i}", f"value {i}") for i in range(10_000)]
    return build(items, form(n))


def header_raw_utf8() -> bytes:
    n = 254
    return build(
        headers(
            n,
            From=f'"PC {n} Zoë Ødegård — Прeston" <{officer(n)}>',
            Subject=f"Référence – LC-20260401-{n:04d} ☃ 紹介 \U0001f4a9",
            To="Équipe MARRAC <marrac-referrals@hub.test>",
        ),
        form(n),
    )


def json_attachment(n: int, text: str, payload: bytes) -> bytes:
    body = multipart(
        f"json-{n}",
        [
            part('text/plain; charset="us-ascii"', text, "Content-Transfer-Encoding: 7bit"),
            part(
                "application/json",
                b64(payload),
                "Content-Transfer-Encoding: base64",
                'Content-Disposition: attachment; filename="referral.json"',
            ),
        ],
    )
    return build(
        headers(
            n,
            Subject=f"MARRAC referral (structured) LC-20260401-{n:04d}",
            Content_Type=f'multipart/mixed; boundary="json-{n}"',
            Content_Transfer_Encoding=None,
        ),
        body,
    )


def json_deep_nesting() -> bytes:
    n = 260
    return json_attachment(n, "Structured referral attached.\n", b"[" * 100_000 + b"]" * 100_000)


def json_huge_integer() -> bytes:
    n = 261
    text = json.dumps(form_json(n), indent=2)
    text = text.replace('"dash_score": 15', '"dash_score": 1' + "0" * 5000)
    return json_attachment(n, "Structured referral attached.\n", text.encode())


def cte_uuencode() -> bytes:
    n = 262
    data = form(n).encode()
    lines = [b"begin 644 referral-262.txt"]
    lines += [binascii.b2a_uu(data[i : i + 45]).rstrip(b"\n") for i in range(0, len(data), 45)]
    lines += [b"`", b"end"]
    return build(
        headers(
            n, Content_Type='text/plain; charset="us-ascii"', Content_Transfer_Encoding="x-uuencode"
        ),
        b"\n".join(lines) + b"\n",
    )


def cte_base64_garbage() -> bytes:
    n = 263
    encoded = base64.b64encode(form(n).encode()).decode()
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    lines.insert(3, "!!!! not base64 at all ####")
    lines.insert(7, "====")
    lines[-1] = lines[-1].rstrip("=")  # padding removed
    lines.append("@@@\x7f")
    return build(headers(n, Content_Transfer_Encoding="base64"), "\n".join(lines) + "\n")


def rtl_zero_width() -> bytes:
    n = 264
    victim = f"Test\u200b Victim\u202e {n}\u202c\u200d\ufeff"
    perpetrator = f"Test \u202eSuspect\u202c {n}\u2066\u2069\u200f"
    text = form(
        n,
        victim=victim,
        perpetrator=perpetrator,
        referrer_name=f"PC {n}\u00a0Test\u2028Officer",
        summary="Right-to-left override: \u202eexe.fdp\u202c; zero width: a\u200bb\u200cc\u200dd.",
    )
    filename = f"referral\u202efdp.exe-{n}"
    body = multipart(
        f"rtl-{n}",
        [
            part('text/plain; charset="utf-8"', text, "Content-Transfer-Encoding: 8bit"),
            part(
                "application/octet-stream",
                b64(b"MZ\x90\x00fictional"),
                "Content-Transfer-Encoding: base64",
                f"Content-Disposition: attachment; filename*=utf-8''{quote(filename, safe='')}",
            ),
        ],
    )
    return build(
        headers(
            n,
            Subject=f"MARRAC referral \u202eLC-20260401-{n:04d}\u202c",
            Content_Type=f'multipart/mixed; boundary="rtl-{n}"',
            Content_Transfer_Encoding=None,
        ),
        body,
    )


def attachment_hostile_filenames() -> bytes:
    n = 265
    names = [
        'filename="../../../../etc/passwd"',
        'filename="C:\\\\Windows\\\\System32\\\\drivers\\\\etc\\\\hosts"',
        "filename*=utf-8''%2E%2E%2F%2E%2E%2Fhub.db",
        'filename="/dev/zero"',
        'filename="con.txt"; filename="second-filename.txt"',
        'filename="' + "A" * 300 + '.pdf"',
        'filename=""',
        'filename="nul\\\0byte.pdf"',
        'filename*0="../.."; filename*1="/split.sh"',
    ]
    parts = [part('text/plain; charset="utf-8"', form(n), "Content-Transfer-Encoding: 8bit")]
    for i, disposition in enumerate(names):
        parts.append(
            part(
                "application/octet-stream",
                b64(f"fictional attachment {i}\n".encode()),
                "Content-Transfer-Encoding: base64",
                f"Content-Disposition: attachment; {disposition}",
            )
        )
    return build(
        headers(
            n, Content_Type=f'multipart/mixed; boundary="files-{n}"', Content_Transfer_Encoding=None
        ),
        multipart(f"files-{n}", parts),
    )


def form_conflicting_copies() -> bytes:
    n = 266
    first = form(n)
    second = form(n, victim=f"Test Victim {n}B", dob="01/01/2001", ref=f"LC-20260401-{n:04d}B")
    return build(headers(n), first + "\n" + second)


# ------------------------------------------------------------------------ the corpus


def corpus() -> list[HostileMail]:
    """Every hostile message, in delivery order. Deterministic: fixed seeds only."""
    out: list[HostileMail] = []

    def add(name: str, raw: bytes, outcomes: frozenset[str], note: str) -> bytes:
        out.append(HostileMail(name, raw, outcomes, note))
        return raw

    def from_file(name: str, outcomes: frozenset[str], note: str) -> bytes:
        return add(name, _file(name), outcomes, note)

    # Controls: these must come out clean, or every other expectation is suspect.
    control = add("control-clean", clean(201), ONLY_CASE, "well-formed referral: baseline")
    add(
        "control-auto-submitted-no",
        clean(202, Auto_Submitted="no"),
        ONLY_CASE,
        "RFC 3834 'Auto-Submitted: no' is a human message, not machine mail",
    )
    add(
        "allowed-uppercase-domain",
        clean(203, From=f"PC 203 Test Officer <TEST.OFFICER203@{POLICE.upper()}>"),
        ONLY_CASE,
        "domains compare case-insensitively: LANCASHIRE.POLICE.UK is allowed",
    )
    no_id = add(
        "missing-message-id",
        clean(204, Message_ID=None),
        ONLY_CASE,
        "no Message-ID header at all; the form is clean",
    )
    from_file(
        "no-content-type",
        ONLY_CASE,
        "no MIME-Version, no Content-Type: RFC 2045 default text/plain us-ascii",
    )

    # Broken MIME structure.
    from_file(
        "mime-missing-boundary",
        CASE_OR_TRIAGE,
        "multipart/mixed without a boundary parameter; the form sits in the body",
    )
    from_file(
        "mime-unterminated-multipart",
        CASE_OR_TRIAGE,
        "multipart with no close delimiter and a truncated base64 attachment",
    )
    from_file(
        "mime-boundary-never-used",
        CASE_OR_TRIAGE,
        "boundary declared but never appears: the whole body is preamble",
    )
    from_file("mime-empty-boundary", CASE_OR_TRIAGE, 'boundary="" (empty delimiter lines)')
    add("mime-nested-50", mime_nested_50(), CASE_OR_TRIAGE, "multipart nested 50 deep")
    add(
        "mime-rfc822-nested-20",
        mime_rfc822_nested_20(),
        CASE_OR_TRIAGE,
        "message/rfc822 forwarded 20 deep, every level with the same Message-ID",
    )
    add(
        "mime-2000-parts",
        mime_2000_parts(),
        CASE_OR_TRIAGE,
        "2000 tiny parts; the form is the first",
    )

    # Charsets.
    add(
        "charset-unknown",
        charset_unknown(),
        CASE_OR_TRIAGE,
        "charset=x-klingon-2026 on the body and in an encoded-word",
    )
    add(
        "charset-utf8-invalid",
        charset_utf8_invalid(),
        CASE_OR_TRIAGE,
        "utf-8 declared; invalid, overlong, surrogate and truncated sequences, raw 8-bit Subject",
    )
    add(
        "charset-latin1-undeclared",
        charset_latin1_undeclared(),
        CASE_OR_TRIAGE,
        "8-bit latin-1 bytes in names with no charset parameter",
    )
    add(
        "charset-utf16-bom",
        charset_utf16_bom(),
        CASE_OR_TRIAGE,
        "the form as UTF-16 with a BOM, base64",
    )
    add(
        "charset-mixed",
        charset_mixed(),
        CASE_OR_TRIAGE,
        "iso-8859-1 declared; body mixes utf-8, latin-1, cp1252, shift_jis; koi8-r/sjis Subject",
    )
    add(
        "charset-utf7-markup",
        charset_utf7_markup(),
        CASE_OR_TRIAGE,
        "UTF-7 body hiding <script> as +ADw-script+AD4-",
    )

    # Encoded-word (RFC 2047) abuse.
    from_file(
        "ew-malformed",
        CASE_OR_TRIAGE,
        "unterminated, bad base64, unknown charset, bad encoding letter, nested encoded-words",
    )
    add("ew-10000-subject", ew_10000_subject(), CASE_OR_TRIAGE, "10,000 encoded-words in Subject")
    from_file(
        "ew-fake-address-in-display-name",
        ONLY_QUARANTINE,
        "display name encodes an allowed address; the real address is evil.example",
    )
    fake = base64.b64encode(officer(234).encode()).decode()
    add(
        "ew-fake-address-base64-display-name",
        forged(234, f"=?utf-8?B?{fake}?= <evil234@evil.example>"),
        ONLY_QUARANTINE,
        "unquoted base64 encoded-word display name decoding to an allowed address",
    )
    from_file(
        "ew-crlf-injection-subject",
        CASE_OR_TRIAGE,
        "encoded CR/LF in Subject tries to inject Auto-Submitted, Bcc, From and a body",
    )
    from_file(
        "ew-crlf-injection-from",
        CASE_OR_TRIAGE,
        "encoded CR/LF in the From display name tries to inject From and Auto-Submitted",
    )

    # Empty.
    from_file("empty-headers-only", ONLY_TRIAGE, "headers only: no blank line, no body")
    from_file("empty-body", ONLY_TRIAGE, "blank line then nothing")
    from_file("empty-multipart", ONLY_TRIAGE, "multipart/mixed with only the close delimiter")
    from_file(
        "empty-zero-byte-text-part",
        ONLY_TRIAGE,
        "0-byte text/plain, base64 and text/html parts",
    )
    from_file("form-all-fields-empty", ONLY_TRIAGE, "every form label present, every value empty")

    # Size and binary.
    add(
        "attachment-20mb",
        attachment_20mb(),
        CASE_OR_TRIAGE,
        "valid form plus a 20,000,000-byte base64 attachment (random.Random(1))",
    )
    add(
        "binary-junk-body", binary_junk_body(), ONLY_TRIAGE, "text/plain body of random bytes, NULs"
    )
    add(
        "binary-octet-stream",
        binary_octet_stream(),
        ONLY_TRIAGE,
        "top-level application/octet-stream, Content-Transfer-Encoding: binary, NULs",
    )
    add(
        "tnef-winmail-dat",
        tnef_winmail(),
        ONLY_TRIAGE,
        "one-line body and an application/ms-tnef winmail.dat",
    )

    # Duplicates and Message-ID reuse.
    add(
        "duplicate-resend-of-control-clean",
        control,
        ONLY_DUPLICATE,
        "byte-for-byte resend of control-clean",
    )
    add(
        "message-id-reused-different-content",
        clean(219, Message_ID=f"<hostile-201@{POLICE}>"),
        ONLY_TRIAGE,
        "control-clean's Message-ID with another (clean) referral: reuse is flagged",
    )

    # Senders that are not on the allowlist: each carries a clean form.
    hyphen = add(
        "forged-hyphenated-domain",
        forged(220, "PC 220 Test Officer <test.officer220@lancashire-police.uk>"),
        ONLY_QUARANTINE,
        "lancashire-police.uk",
    )
    add(
        "forged-suffix-domain",
        forged(221, f"PC 221 Test Officer <test.officer221@{POLICE}.evil.example>"),
        ONLY_QUARANTINE,
        "lancashire.police.uk.evil.example",
    )
    add(
        "forged-prefix-domain",
        forged(222, f"PC 222 Test Officer <test.officer222@evil-{POLICE}>"),
        ONLY_QUARANTINE,
        "evil-lancashire.police.uk",
    )
    add(
        "forged-subdomain",
        forged(223, f"PC 223 Test Officer <test.officer223@sub.{POLICE}>"),
        ONLY_QUARANTINE,
        "sub.lancashire.police.uk: sub-domains are not implied",
    )
    add(
        "forged-homoglyph-punycode",
        forged(224, "PC 224 Test Officer <test.officer224@lancashire.xn--plice-jye.uk>"),
        ONLY_QUARANTINE,
        "IDNA form of lancashire.pоlice.uk with a Cyrillic о (U+043E)",
    )
    add(
        "forged-homoglyph-utf8",
        forged(225, "PC 225 Test Officer <test.officer225@lancashire.p\u043elice.uk>".encode()),
        ONLY_QUARANTINE,
        "raw UTF-8 Cyrillic о in the From domain (SMTPUTF8 style)",
    )
    add(
        "forged-digit-for-letter",
        forged(226, "PC 226 Test Officer <test.officer226@lancashire.po1ice.uk>"),
        ONLY_QUARANTINE,
        "lancashire.po1ice.uk (digit one for l)",
    )
    add(
        "forged-quoted-local-part",
        forged(227, f'"test.officer227@{POLICE}"@evil.example'),
        ONLY_QUARANTINE,
        "quoted local part holding an allowed address; the domain is evil.example",
    )
    add(
        "forged-display-name-plain-address",
        forged(228, f'"test.officer228@{POLICE}" <evil228@evil.example>'),
        ONLY_QUARANTINE,
        "allowed address as a plain quoted display name",
    )
    add(
        "forged-two-from-headers",
        two_from_headers(),
        ONLY_QUARANTINE,
        "two From headers: evil.example first, an allowed address second",
    )
    add(
        "forged-address-list-stranger-first",
        forged(230, f"evil230@evil.example, PC 230 Test Officer <{officer(230)}>"),
        ONLY_QUARANTINE,
        "From lists two mailboxes; the first (the one judged) is a stranger",
    )
    add(
        "forged-sender-and-reply-to-allowed",
        forged(231, "evil231@evil.example", Sender=officer(231), Reply_To=officer(231)),
        ONLY_QUARANTINE,
        "From is a stranger; Sender and Reply-To are allowed addresses",
    )
    add(
        "from-missing",
        forged(232, None, Sender=officer(232)),
        ONLY_QUARANTINE,
        "no From header (Sender is an allowed address, which proves nothing)",
    )
    add(
        "from-unparseable",
        forged(233, '@@@ <> ;;; "unterminated \\'),
        ONLY_QUARANTINE,
        "From holds no parseable address",
    )
    add(
        "duplicate-resend-of-forged-hyphenated",
        hyphen,
        ONLY_DUPLICATE,
        "byte-for-byte resend of a quarantined message: duplicate is decided first",
    )

    # Markup everywhere (allowed sender).
    from_file(
        "markup-every-field",
        CASE_OR_TRIAGE,
        "script, img onerror, javascript:, template and CSV injection in every field",
    )
    from_file(
        "markup-html-only-scripts",
        CASE_OR_TRIAGE,
        "HTML-only form with scripts, meta refresh, iframes, phishing form, unterminated script",
    )

    # Machine mail: recognised before the sender and the form.
    from_file("ooo-auto-submitted", ONLY_MACHINE, "out-of-office with Auto-Submitted: auto-replied")
    from_file("ooo-x-autoreply", ONLY_MACHINE, "out-of-office with only X-Autoreply: yes")
    from_file(
        "ooo-precedence-auto-reply", ONLY_MACHINE, "out-of-office with only Precedence: auto_reply"
    )
    from_file(
        "ooo-microsoft-automatic-reply",
        ONLY_MACHINE,
        "Exchange 'Automatic reply:' with X-Auto-Response-Suppress and Auto-Submitted",
    )
    add(
        "precedence-bulk-with-clean-form",
        clean(240, Precedence="bulk"),
        ONLY_MACHINE,
        "Precedence: bulk wins over a perfect form",
    )
    add(
        "precedence-junk",
        clean(241, Precedence="junk"),
        ONLY_MACHINE,
        "Precedence: junk wins over a perfect form",
    )
    add(
        "auto-submitted-mixed-case-with-clean-form",
        clean(242, Auto_Submitted="Auto-Generated"),
        ONLY_MACHINE,
        "Auto-Submitted keywords are case-insensitive; machine wins over a perfect form",
    )
    add(
        "auto-submitted-auto-notified",
        clean(243, Auto_Submitted='auto-notified; owner-email="x@hub.test"'),
        ONLY_MACHINE,
        "any Auto-Submitted value other than 'no' (RFC 5436 auto-notified, with a parameter)",
    )
    add(
        "ooo-from-stranger",
        build(
            headers(
                244,
                From="Someone <someone244@evil.example>",
                Subject="Out of Office: MARRAC referral",
                Auto_Submitted="auto-replied",
            ),
            "I am away until next week.\n",
        ),
        ONLY_MACHINE,
        "an auto-reply from a stranger is machine mail, not quarantine",
    )
    from_file(
        "bounce-mailer-daemon",
        ONLY_MACHINE,
        "multipart/report delivery-status from MAILER-DAEMON, Return-Path <>",
    )
    from_file(
        "bounce-postmaster-allowed-domain",
        ONLY_MACHINE,
        "Exchange NDR from postmaster@lancashire.police.uk; the bounced original holds a form",
    )
    from_file(
        "mdn-read-receipt",
        ONLY_MACHINE,
        "multipart/report disposition-notification (read receipt) from an allowed address",
    )

    # Header abuse.
    add(
        "header-long-100kb",
        header_long_100kb(),
        CASE_OR_TRIAGE,
        "one 100 KB unfolded Subject line (over the 998-byte limit)",
    )
    add(
        "header-nul-bytes",
        header_nul_bytes(),
        CASE_OR_TRIAGE,
        "NUL and control bytes in To, Subject and X- headers",
    )
    add(
        "header-nested-comments",
        header_nested_comments(),
        CASE_OR_TRIAGE,
        "comments nested 5000 deep in Date, Cc, Reply-To, Comments (recursive parsers overflow)",
    )
    add("header-10000-fields", header_10000_fields(), CASE_OR_TRIAGE, "10,000 header fields")
    add(
        "header-raw-utf8",
        header_raw_utf8(),
        CASE_OR_TRIAGE,
        "raw UTF-8 in From display name, To and Subject (no encoded-words)",
    )
    from_file(
        "header-garbage-line",
        CASE_OR_TRIAGE,
        "a line without a colon ends the header block early",
    )
    add(
        "date-garbage",
        clean(255, Date="Thu, 32 Foo 99999 25:61:61 +9999"),
        CASE_OR_TRIAGE,
        "unparseable Date header",
    )

    # Forms and attachments.
    from_file("form-dob-31-february", ONLY_TRIAGE, "victim date of birth 31/02/1990 does not exist")
    from_file("json-invalid", ONLY_TRIAGE, "referral.json is not JSON; the body is one line")
    from_file(
        "json-schema-invalid",
        ONLY_TRIAGE,
        "referral.json is JSON of the wrong shape (victim a string, wrong types)",
    )
    from_file(
        "json-invalid-with-valid-text-form",
        CASE_OR_TRIAGE,
        "broken referral.json next to a valid plain-text form",
    )
    add(
        "json-deep-nesting",
        json_deep_nesting(),
        ONLY_TRIAGE,
        "referral.json nested 100,000 deep (json.loads raises RecursionError)",
    )
    add(
        "json-huge-integer",
        json_huge_integer(),
        CASE_OR_TRIAGE,
        "referral.json with a 5001-digit dash_score (Python refuses over 4300 digits)",
    )
    add(
        "cte-uuencode",
        cte_uuencode(),
        CASE_OR_TRIAGE,
        "the form uuencoded, Content-Transfer-Encoding: x-uuencode",
    )
    from_file("cte-bogus", CASE_OR_TRIAGE, "Content-Transfer-Encoding: x-bogus-rot13-deluxe")
    add(
        "cte-base64-garbage",
        cte_base64_garbage(),
        CASE_OR_TRIAGE,
        "base64 body with junk lines, stray padding and no final padding",
    )
    from_file(
        "cte-qp-broken",
        CASE_OR_TRIAGE,
        "quoted-printable with bad escapes and a soft break at the very end",
    )
    from_file("body-only-url", ONLY_TRIAGE, "the body is just a URL")
    add(
        "rtl-zero-width",
        rtl_zero_width(),
        CASE_OR_TRIAGE,
        "RTL override and zero-width characters in names, Subject and attachment filename",
    )
    add(
        "attachment-hostile-filenames",
        attachment_hostile_filenames(),
        CASE_OR_TRIAGE,
        "path traversal, device, NUL, empty, 300-char and RFC 2231 split filenames",
    )
    add(
        "form-conflicting-copies",
        form_conflicting_copies(),
        CASE_OR_TRIAGE,
        "two complete forms in one body that disagree",
    )
    add(
        "duplicate-resend-of-missing-message-id",
        no_id,
        ONLY_DUPLICATE,
        "byte-for-byte resend of missing-message-id (no Message-ID, same bytes)",
    )
    return out


def by_name() -> dict[str, HostileMail]:
    return {m.name: m for m in corpus()}


def _message_id(raw: bytes) -> bytes | None:
    head = raw.split(CRLF + CRLF, 1)[0]
    found = re.search(rb"(?im)^message-id:[ \t]*(.*)$", head)
    return found.group(1).strip() if found else None


def _self_check() -> None:
    mails = corpus()
    names = [m.name for m in mails]
    assert len(names) == len(set(names)), "names must be unique"
    ids: dict[bytes, str] = {}
    seen_raw: dict[bytes, str] = {}
    for m in mails:
        assert isinstance(m.raw, bytes) and m.raw, m.name
        assert m.outcomes and m.outcomes <= OUTCOMES, m.name
        assert m.raw.endswith(CRLF), m.name
        assert b"\n" not in m.raw.replace(CRLF, b""), f"{m.name}: bare LF"
        longest = max(len(line) for line in m.raw.split(CRLF))
        assert longest <= 998 or m.name == "header-long-100kb", f"{m.name}: line {longest}"
        assert longest <= 110_000, m.name
        if m.outcomes == ONLY_DUPLICATE:
            assert m.raw in seen_raw, f"{m.name}: resend of nothing earlier"
        else:
            assert m.raw not in seen_raw, f"{m.name}: same bytes as {seen_raw.get(m.raw)}"
            mid = _message_id(m.raw)
            if mid is not None and m.name != "message-id-reused-different-content":
                assert mid not in ids, f"{m.name}: Message-ID of {ids.get(mid)}"
                ids[mid] = m.name
        seen_raw.setdefault(m.raw, m.name)
    counts: dict[str, int] = {}
    for m in mails:
        key = "|".join(sorted(m.outcomes))
        counts[key] = counts.get(key, 0) + 1
    print(f"{len(mails)} messages, {sum(len(m.raw) for m in mails):,} bytes")
    for key, count in sorted(counts.items()):
        print(f"  {key}: {count}")


if __name__ == "__main__":
    _self_check()
