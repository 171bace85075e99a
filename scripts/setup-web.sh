#!/usr/bin/env bash
# Install what the web pages and their browser tests need. Idempotent: a second run
# checks and returns in well under a second.
#   1. front-end assets: `npm ci` from package-lock.json (govuk-frontend pinned at 6.3.0,
#      the version govuk-frontend-jinja 4.1.0 targets; axe-core for accessibility tests);
#   2. the test tools into .venv, playwright among them, from requirements/test.txt
#      (scripts/setup-venv.sh test); the runtime packages (aiohttp-jinja2, Jinja2,
#      govuk-frontend-jinja) are in both lock files, pinned with their hashes;
#   3. Debian's chromium for the browser tests (as root, when /usr/bin/chromium is
#      missing). `playwright install` cannot work here: it downloads its own browser.
# Without node_modules the hub still runs: pages render unstyled and it logs a warning.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

apt_install() {
  # Try without refreshing the package lists first: fast when they are recent.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

# --- 1. front-end assets -----------------------------------------------------------------
if ! command -v npm >/dev/null; then
  if as_root; then
    echo "setup-web: installing nodejs and npm (Debian)..."
    apt_install nodejs npm
  else
    echo "setup-web: npm is missing (apt-get install nodejs npm); pages will render unstyled" >&2
  fi
fi
if command -v npm >/dev/null; then
  stamp="node_modules/.marrac-hub-$(sha256sum package-lock.json | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "setup-web: npm ci (govuk-frontend, axe-core)..."
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    touch "$stamp"
  fi
fi

# --- 2. Python packages ------------------------------------------------------------------
# The demo runs the hub from requirements/hub.txt (scripts/setup-venv.sh, called by
# demo.sh); browser tests also need playwright, from requirements/test.txt.
if [ "${MARRAC_WEB_NO_BROWSER:-0}" != 1 ]; then
  bash scripts/setup-venv.sh test
fi

# --- 3. chromium for the browser tests ---------------------------------------------------
if [ "${MARRAC_WEB_NO_BROWSER:-0}" = 1 ]; then
  :  # the demo needs no browser
elif [ ! -x /usr/bin/chromium ]; then
  if as_root; then
    echo "setup-web: installing chromium (Debian, about 25 s)..."
    apt_install chromium
  else
    echo "setup-web: /usr/bin/chromium is missing (apt-get install chromium);" \
      "browser tests will skip (or fail in CI)" >&2
  fi
fi
