"""Pages rendered once and filled in per request.

A link's landing page is the same bytes for every visitor of that link at that state,
except for two things: the form's CSRF field (each browser's own) and the link's token
(in the form's address). Rendering GOV.UK Frontend's page template took most of a
landing page's time; :class:`PageCache` keeps the page rendered with a marker in place of
each of those, and each request replaces the markers with its own values.

The markers are random per process (128 bits), so no text that reaches a page (a name
from the directory, a reference) can contain one; the values put in are the CSRF field
(markup the hub makes) and text escaped as the template would have escaped it. Entries
are keyed by everything else the page shows, so a change of state, due date or
signature is a new entry; the least recently used go first.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping

from aiohttp import web
from markupsafe import Markup

# A few hundred links' pages at once: the links being opened this hour.
CAPACITY = 512


class PageCache:
    """Rendered pages by key, with markers for the per-request parts."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._pages: OrderedDict[Hashable, str] = OrderedDict()
        self._tag = secrets.token_hex(16)

    def marker(self, name: str) -> Markup:
        """The text that stands for slot ``name`` in a cached page (safe as it is)."""
        return Markup("slot-{}-{}").format(name, self._tag)

    def page(self, key: Hashable, render: Callable[[], str], slots: Mapping[str, str]) -> str:
        """The page for ``key`` (``render()`` it, with the markers, if it is not kept),
        with each slot's marker replaced by its value."""
        body = self._pages.get(key)
        if body is None:
            body = render()
            self._pages[key] = body
            if len(self._pages) > self.capacity:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(key)
        for name, value in slots.items():
            body = body.replace(self.marker(name), value)
        return body

    def __len__(self) -> int:
        return len(self._pages)


PAGE_CACHE = web.AppKey("page_cache", PageCache)
