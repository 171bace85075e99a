"""What is wrong with a settings file: every problem found, not only the first.

An operator fixing a settings file wants the whole list at once (``marrac-hub
check-config``), so the reader collects problems in a :class:`Problems` and raises one
:class:`ConfigError` carrying them all.
"""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(Exception):
    """The settings are missing, malformed or contradict each other.

    ``problems`` holds one line per problem; ``str()`` lists them all, one per line.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        super().__init__("\n".join(self.problems))


class Problems:
    """The problems found so far, and which keys they were found in.

    A rule that spans several keys asks :meth:`clean` first, so that one bad value is
    reported once and not again as a contradiction with its neighbours.
    """

    def __init__(self) -> None:
        self._found: list[str] = []
        self._bad: set[tuple[str, str]] = set()

    def add(self, text: str, section: str = "", key: str = "") -> None:
        """Record one problem, and the key it is about (when it is about one)."""
        self._found.append(text)
        if section:
            self._bad.add((section, key))

    def extend(self, error: ConfigError, section: str, key: str) -> None:
        """Record every problem of ``error`` against one key."""
        for text in error.problems:
            self.add(text, section, key)

    def clean(self, section: str, *keys: str) -> bool:
        """True when none of ``keys`` of ``[section]`` (nor the section itself) is bad."""
        return not any((section, k) in self._bad for k in ("", *keys))

    def raise_any(self) -> None:
        """Raise :class:`ConfigError` with everything found, if anything was."""
        if self._found:
            raise ConfigError(self._found)
