"""End-to-end tests: the whole case study through real mail, a real hub and a real browser.

They reuse the web layer's Chromium (driven by Playwright); the initialised hub template
(keys and a migrated database, copied per test) comes from tests/conftest.py.
"""

from tests.web.conftest import browser

__all__ = ["browser"]
