#!/usr/bin/env bash
# Create .venv (if missing) and install marrac-hub into it from a lock file: every release
# pinned, every file checked against its hash (pip --require-hashes), then the project
# itself, editable, with nothing more fetched. Used by demo.sh and test.sh.
# Usage: scripts/setup-venv.sh          requirements/hub.txt  (running the hub)
#        scripts/setup-venv.sh test     requirements/test.txt (the hub and its test tools)
# A second run returns at once unless the lock file or pyproject.toml changed.
# The lock files come from pyproject.toml: bash scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
case "$extra" in
  "") lock="requirements/hub.txt" ;;
  test) lock="requirements/test.txt" ;;
  *) echo "usage: scripts/setup-venv.sh [test]" >&2; exit 2 ;;
esac

if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "marrac-hub needs Python 3.11 or newer (python3 is $(python3 --version 2>&1))" >&2
  exit 1
fi
# Debian ships venv and ensurepip separately: install them when we are allowed to.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing python3-venv (Debian)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "python3-venv is missing: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
kind="${extra:-hub}"
stamp=".venv/.installed-$kind-$(cat "$lock" pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  if ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
    echo "setup-venv: $lock is locked for Python 3.11; installing it on" \
      "$(.venv/bin/python --version) all the same" >&2
  fi
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # The build backend (setuptools) is in the lock too: no build isolation, so the editable
  # install fetches nothing that the lock has not checked.
  if ! .venv/bin/python -m pip install --disable-pip-version-check -q --require-hashes \
    -r "$lock" >"$log" 2>&1 \
    || ! .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps \
      --no-build-isolation -e . >>"$log" 2>&1; then
    cat "$log" >&2
    echo "setup-venv: installing from $lock failed (above)" >&2
    exit 1
  fi
  # A dependency added to pyproject.toml but not to the lock shows here, not at import.
  if ! .venv/bin/python -m pip check --disable-pip-version-check >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup-venv: $lock does not satisfy pyproject.toml: run bash scripts/lock.sh" >&2
    exit 1
  fi
  rm -f .venv/.installed-"$kind"-*
  touch "$stamp"
fi
