"""One generic reader for every settings section: it walks a section's declarations
(:mod:`hub.config.declarations`), checks each key's type and limits, takes defaults, lets
the environment override secrets, resolves paths and names unknown keys.

Every problem is recorded in a :class:`~hub.config.problems.Problems`, not raised: a bad
value is replaced by its default so that reading goes on and reports the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from hub.config.declarations import Declaration, declaration
from hub.config.problems import Problems

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
_MISSING = object()


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_flag(value: object) -> bool:
    return isinstance(value, bool)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# The types a key may have: how to recognise a TOML value of it, what to ask for, and
# how to turn the TOML value into the field's type.
_KINDS: dict[object, tuple[Callable[[object], bool], str, Callable[[Any], Any]]] = {
    str: (_is_text, "text", str),
    bool: (_is_flag, "true or false", bool),
    int: (_is_whole, "a whole number", int),
    float: (_is_number, "a number", float),
    Path: (_is_text, "a path", str),
    Path | None: (_is_text, "a path", str),
    tuple[str, ...]: (_is_texts, "a list of strings", tuple),
}
_PATHS = (Path, Path | None)


def resolve(base: Path, value: str | Path) -> Path:
    """``value`` as a path: ``~`` expanded, relative to ``base`` unless absolute."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _out_of_range(declared: Declaration, value: Any) -> str | None:
    low, high = declared.minimum, declared.maximum
    if low is not None and high is not None and not low <= value <= high:
        return f"must be between {_number(low)} and {_number(high)}"
    if low is not None and value < low:
        return f"must be at least {_number(low)}"
    if high is not None and value > high:
        return f"must be at most {_number(high)}"
    return None


def _problem(hint: object, declared: Declaration, value: Any) -> str | None:
    """What is wrong with a value of the right type, or None."""
    if hint is Path and value == "":
        return "must not be empty"
    phrase = None
    if declared.choices and value not in declared.choices:
        phrase = f"must be one of {', '.join(declared.choices)}"
    elif declared.minimum is not None or declared.maximum is not None:
        phrase = _out_of_range(declared, value)
    if phrase is None:
        return declared.check(value) if declared.check else None
    if declared.secret:
        return phrase
    shown = _number(value) if isinstance(value, float) else repr(value)
    return f"{phrase}, not {shown}"


@cache
def _hints(cls: type) -> dict[str, Any]:
    """The fields' types, evaluated once per class (the annotations are strings)."""
    return get_type_hints(cls)


class Reader:
    """Reads the sections of one settings document into their dataclasses."""

    def __init__(
        self, raw: Mapping[str, Any], base: Path, env: Mapping[str, str], problems: Problems
    ) -> None:
        self._raw = raw
        self._base = base
        self._env = env
        self._problems = problems

    def section(self, name: str, cls: type[T]) -> T:
        """``[name]`` read into ``cls``; problems recorded, defaults in their place."""
        table = self._table(name)
        hints = _hints(cls)
        values: dict[str, Any] = {}
        for item in fields(cls):
            declared = declaration(item)
            if declared is None:
                continue
            given = table.pop(item.name, _MISSING)
            if declared.env and self._env.get(declared.env):
                given = self._env[declared.env]
            value = item.default
            if given is not _MISSING:
                value = self._checked(name, item.name, hints[item.name], declared, given, value)
            values[item.name] = self._finished(hints[item.name], declared, value)
        if table:
            self._problems.add(f"[{name}] has unknown key(s): {', '.join(sorted(table))}")
        return cls(**values)

    def _table(self, name: str) -> dict[str, Any]:
        value = self._raw.get(name, {})
        if not isinstance(value, dict):
            self._problems.add(f"[{name}] must be a table", name)
            return {}
        return dict(value)

    def _checked(
        self,
        section: str,
        key: str,
        hint: object,
        declared: Declaration,
        given: Any,
        default: Any,
    ) -> Any:
        """The given value in the field's type, or the default after recording why not."""
        accepts, wanted, convert = _KINDS[hint]
        if not accepts(given):
            self._problems.add(f"[{section}] {key} must be {wanted}", section, key)
            return default
        value = convert(given)
        problem = _problem(hint, declared, value)
        if problem is not None:
            self._problems.add(f"[{section}] {key} {problem}", section, key)
            return default
        return value

    def _finished(self, hint: object, declared: Declaration, value: Any) -> Any:
        """Paths resolved against the settings file's directory; values normalised."""
        if hint in _PATHS:
            value = None if value is None or value == "" else resolve(self._base, value)
        if declared.convert is not None:
            value = declared.convert(value)
        return value
