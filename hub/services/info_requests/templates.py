"""Request templates: which people, fields and questions a request to a kind of agency
carries by default (``request-templates/*.toml``, editable without code)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from hub.domain.request_scope import Question
from hub.resources import request_templates_dir
from hub.services.info_requests.errors import RequestError


@dataclass(frozen=True)
class Template:
    """One template: the agency types it fits, the fields it shares, the roles it asks
    about when the co-ordinator names nobody, and its questions."""

    name: str
    agency_types: tuple[str, ...]
    fields: tuple[str, ...]
    roles: tuple[str, ...]
    questions: tuple[Question, ...]


def load_templates(directory: Path | None) -> dict[str, Template]:
    """Request templates from ``directory`` (None: the ones that ship with the hub), read
    again whenever a file in the folder changes (cached on names and mtimes)."""
    if directory is None:
        directory = request_templates_dir()
    if not directory.is_dir():
        return {}
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(directory.glob("*.toml")))
    return _read_templates(directory, stamp)


@functools.lru_cache(maxsize=8)
def _read_templates(directory: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, Template]:
    templates: dict[str, Template] = {}
    for path in sorted(directory.glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        name = str(raw.get("name") or path.stem)
        questions = tuple(
            Question(id=str(q["id"]), text=str(q["text"])) for q in raw.get("question", [])
        )
        templates[name] = Template(
            name=name,
            agency_types=tuple(raw.get("agency_types", [])),
            fields=tuple(raw.get("fields", [])),
            roles=tuple(raw.get("roles", ["victim", "perpetrator", "child"])),
            questions=questions,
        )
    return templates


def pick_template(templates: dict[str, Template], name: str | None, agency_type: str) -> Template:
    """The template named, else the first that fits the agency's type, else ``general``."""
    if name:
        if name not in templates:
            raise RequestError(f"no request template {name!r} (have: {', '.join(templates)})")
        return templates[name]
    for template in templates.values():
        if agency_type in template.agency_types:
            return template
    if "general" in templates:
        return templates["general"]
    raise RequestError("no template fits this agency: give --template and --question")
