"""JSON read the way a verifier must (RFC 8259 4, RFC 7493 2.3): one object, one name.

RFC 8259 leaves objects with a member name given twice undefined: Python keeps the last,
other readers the first. A signed envelope with a fake ``document`` before the real one
would then verify in one reader and show the fake in another, so a verifier refuses it.
"""

from __future__ import annotations

import json
from typing import Any


class StrictJSONError(ValueError):
    """JSON text a verifier refuses: a member name given twice, or NaN/Infinity."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise StrictJSONError(f"member {name!r} appears twice in one object")
        seen[name] = value
    return seen


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


def parse_json(text: str | bytes) -> Any:
    """Parse JSON the way a verifier must: a duplicate member name anywhere, or a
    ``NaN``/``Infinity`` literal, raises :class:`StrictJSONError` (a ValueError), as
    does text that is not JSON at all."""
    return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant)
