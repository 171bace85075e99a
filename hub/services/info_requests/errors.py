"""The failures of the request use cases: ordinary refusals with a message for the
co-ordinator, never bugs (STYLE.md habit 3)."""

from __future__ import annotations


class RequestError(Exception):
    """A request cannot be created or changed as asked (the message says why)."""


class NotFound(RequestError):
    """No such case, agency or request."""
