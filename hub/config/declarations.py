"""Declaring a settings key once: its type (the field's annotation), its default and its
constraints, in the field of a frozen dataclass.

>>> @dataclass(frozen=True)
... class WebSettings:
...     port: int = setting(8080, minimum=0, maximum=65535)

:mod:`hub.config.reading` walks these declarations to read a TOML table, so a default
is written in one place only and every key is checked the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
#: A check of one value: ``None`` when it is fine, else what it must be ("must be ...").
Check = Callable[[Any], "str | None"]

_METADATA_KEY = "hub.config.setting"


@dataclass(frozen=True)
class Declaration:
    """How one key is read. ``env`` names an environment variable that, when set and
    not empty, replaces the file's value (secrets kept out of the file). ``secret``
    keeps the value out of reprs and messages."""

    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    env: str | None = None
    secret: bool = False
    check: Check | None = None
    convert: Callable[[Any], Any] | None = None


def setting(
    default: T,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    env: str | None = None,
    secret: bool = False,
    check: Check | None = None,
    convert: Callable[[Any], Any] | None = None,
) -> T:
    """A dataclass field that is a settings key with ``default`` and these constraints.

    Numbers must lie in ``minimum``..``maximum`` (inclusive), text in ``choices`` when
    given; ``check`` adds any other rule and ``convert`` normalises the value after it
    passed (e.g. lower-casing addresses). Relative paths, defaults included, are resolved
    against the settings file's directory.
    """
    declared = Declaration(minimum, maximum, choices, env, secret, check, convert)
    return field(default=default, repr=not secret, metadata={_METADATA_KEY: declared})


def declaration(item: Field[Any]) -> Declaration | None:
    """The declaration of a dataclass field, or None for a field that is not a key."""
    declared = item.metadata.get(_METADATA_KEY)
    return declared if isinstance(declared, Declaration) else None
