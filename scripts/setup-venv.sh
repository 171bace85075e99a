#!/usr/bin/env bash
# Create .venv (if missing) and install marrac-hub into it. Used by demo.sh and test.sh.
# Usage: scripts/setup-venv.sh [extra]   e.g. "test" to add the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"

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
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extra:+-$extra}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  if [ -n "$extra" ]; then
    .venv/bin/python -m pip install -q -e ".[$extra]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$stamp"
fi
