#!/usr/bin/env bash
# The second command of the README: install what the tests need, then run every test.
# Real services only: Dovecot (installed here from Debian when missing, run by the suite
# itself), an SMTP server (aiosmtpd, started by the suite), PostgreSQL (127.0.0.1:5432,
# database `test`, trust auth: provided by the machine). In CI, or with
# MARRAC_HUB_REQUIRE_SERVICES=1, a missing service fails the run instead of skipping.
# Extra arguments go to pytest, e.g. scripts/test.sh -k intake -x
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || need_apt+=(dovecot-imapd dovecot-lmtpd)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need_apt[*]} (Debian)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "WARNING: missing ${need_apt[*]}; tests that need them will skip (or fail in CI)" >&2
  fi
fi
bash scripts/setup-venv.sh test
bash scripts/setup-web.sh   # GOV.UK assets (npm ci), Debian chromium for the browser tests
exec .venv/bin/python -m pytest "$@"
