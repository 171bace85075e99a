"""Files that ship inside the package, read through :mod:`importlib.resources`.

The published contracts live at the top of the repository (``schemas/``) and the default
request templates under ``config/request-templates/``; ``hub/schemas`` and
``hub/request_templates`` point at them, so a checkout, an editable install and a wheel
installed anywhere (``pip install marrac-hub``) all read the same files.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any


def schema_text(name: str) -> str:
    """The text of one published schema, e.g. ``referral.schema.json``."""
    return files("hub").joinpath("schemas", name).read_text(encoding="utf-8")


@cache
def schema(name: str) -> dict[str, Any]:
    """One published JSON Schema, parsed (cached: the files do not change at run time)."""
    loaded: dict[str, Any] = json.loads(schema_text(name))
    return loaded


def request_templates_dir() -> Path:
    """The directory of the request templates that ship with the hub (the default of
    ``[requests] templates_dir``)."""
    return Path(str(files("hub").joinpath("request_templates")))
