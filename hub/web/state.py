"""The application's typed state (``web.AppKey``), shared by every handler module.

Kept apart from ``app.py`` so that page modules can read the state without importing
the module that imports them.
"""

from __future__ import annotations

from aiohttp import web

from hub.crypto.keys import KeyRing
from hub.services.context import Context

CONTEXT = web.AppKey("context", Context)
RING = web.AppKey("ring", KeyRing)
# Whether GOV.UK Frontend's built files were found (False: pages render unstyled).
FRONTEND = web.AppKey("frontend", bool)
