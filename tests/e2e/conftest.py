"""End-to-end tests: the whole case study through real mail, a real hub and a real browser.

They reuse the web layer's fixtures: the initialised hub template (keys and a migrated
database, copied per test) and Debian's Chromium driven by Playwright.
"""

from tests.web.conftest import browser, initialised_hub_dir

__all__ = ["browser", "initialised_hub_dir"]
