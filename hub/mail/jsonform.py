"""Reading a structured referral from a ``referral.json`` attachment.

The document must be valid against ``schemas/referral.schema.json`` (shipped inside the
package as ``hub/schemas``, read through :mod:`importlib.resources` so an installed wheel
finds it too); when it is not, the
caller falls back to the text body and records where the document went wrong as a JSON
pointer, never the offending value (it may be personal data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped,unused-ignore]

from hub.domain.referral import Person, Referral, Referrer, Role
from hub.mail.values import (
    MAX_CHILDREN,
    MAX_DETAILS,
    MAX_SUMMARY_CHARS,
    SUMMARY_CUT,
    clean_text,
    find_email,
    parse_date,
    parse_datetime,
    snake_key,
    understood,
)
from hub.mail.vocabulary import DETAIL_ALIASES

SCHEMA = "referral.schema.json"
# Larger than any real referral; parsing more is only work for an attacker.
MAX_JSON_BYTES = 1_000_000


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with its local ``#/$defs/...`` references replaced by their targets.

    Same meaning, but jsonschema no longer resolves a reference per field per document,
    which was half the time spent on a structured referral.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline(value, defs) for value in node]
    return node


def _validator() -> Draft202012Validator:
    # hub.resources.schema() reads the same file, but hub.mail may import only hub.domain.
    text = files("hub").joinpath("schemas", SCHEMA).read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_inline(schema, schema.get("$defs", {})))


# Loaded once at import: a missing or broken schema is a deployment fault and should stop
# the service at start, not turn every structured referral into a parse problem.
_VALIDATOR = _validator()
_PERSON_FIELDS = ("name", "date_of_birth", "gender", "address", "phone")


@dataclass(frozen=True)
class JsonReading:
    """Either a referral or the reason the document was not one (never both)."""

    referral: Referral | None
    problem: str | None = None


def _pointer(path: Any) -> str:
    """RFC 6901 pointer for an error location: ("children", 0, "name") -> /children/0/name."""
    parts = [str(part).replace("~", "~0").replace("/", "~1")[:40] for part in path]
    return "/" + "/".join(parts) if parts else "(document root)"


def read_json(data: bytes) -> JsonReading:
    """The referral in a JSON attachment, or why it could not be used."""
    if len(data) > MAX_JSON_BYTES:
        return JsonReading(None, "referral.json invalid: too large")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        # UnicodeDecodeError is a ValueError; so is an over-long integer literal.
        return JsonReading(None, "referral.json invalid: not valid JSON")
    try:
        error = best_match(_VALIDATOR.iter_errors(document))
    except RecursionError:
        return JsonReading(None, "referral.json invalid: nested too deeply")
    if error is not None:
        return JsonReading(None, f"referral.json invalid: {_pointer(error.absolute_path)}")
    return JsonReading(_referral(document))


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "Yes" if value else "No"  # the form's words, so details read the same
    if isinstance(value, int | str):
        return clean_text(str(value))
    return None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _person(raw: object, role: Role, label: str, problems: list[str]) -> Person | None:
    fields = _object(raw)
    if not fields:
        return None
    born = understood(
        _given(fields.get("date_of_birth")), parse_date, f"{label} date of birth", problems
    )
    return Person(
        role=role,
        name=_text(fields.get("name")),
        date_of_birth=born,
        gender=_text(fields.get("gender")),
        address=_text(fields.get("address")),
        phone=_text(fields.get("phone")),
        details=_details(fields),
    )


def _details(fields: dict[str, Any]) -> dict[str, str]:
    """Every field but the standard ones, under the keys the text form uses too."""
    details: dict[str, str] = {}
    for key, value in fields.items():
        detail = snake_key(key)
        detail = DETAIL_ALIASES.get(detail, detail)
        text = _text(value)
        if key not in _PERSON_FIELDS and detail and text and len(details) < MAX_DETAILS:
            details.setdefault(detail, text)
    return details


def _given(value: object) -> str | None:
    """A value the document gave (not absent, null or empty), as text."""
    return str(value) if value else None


def _referral(document: dict[str, Any]) -> Referral:
    """Map a schema-valid document onto a Referral (the schema guarantees the types)."""
    problems: list[str] = []
    referrer = _object(document.get("referrer"))
    incident = _object(document.get("incident"))
    email = understood(_given(referrer.get("email")), find_email, "referrer email", problems)
    incident_at = understood(_given(incident.get("at")), parse_datetime, "incident date", problems)
    victim = _person(document.get("victim"), Role.VICTIM, "victim", problems)
    perpetrator = _person(document.get("perpetrator"), Role.PERPETRATOR, "perpetrator", problems)
    children = []
    for number, raw in enumerate((document.get("children") or [])[:MAX_CHILDREN], start=1):
        child = _person(raw, Role.CHILD, f"child {number}", problems)
        if child is not None:
            children.append(child)
    summary = document.get("summary") or ""
    if len(summary) > MAX_SUMMARY_CHARS:
        problems.append(SUMMARY_CUT)
    present = incident.get("children_present")
    return Referral(
        source="json",
        force_reference=_text(document.get("force_reference")),
        referral_reason=_text(document.get("referral_reason")),
        dash_score=document.get("dash_score"),
        risk_level=_text(document.get("risk_level")),
        division=_text(document.get("division")),
        area=_text(document.get("area")),
        referrer=Referrer(
            name=_text(referrer.get("name")), email=email, phone=_text(referrer.get("phone"))
        ),
        incident_at=incident_at,
        incident_location=_text(incident.get("location")),
        children_present=present if isinstance(present, bool) else None,
        victim=victim,
        perpetrator=perpetrator,
        children=tuple(children),
        summary=clean_text(summary, MAX_SUMMARY_CHARS),
        parse_problems=tuple(problems),
    )
