#!/usr/bin/env bash
# The first command of the README: set up, then run the hub's main job (`serve`) on
# embedded defaults (SQLite, generated keys, a local Maildir as the referral mailbox and
# another as the mail drop), send it the evaluation report's case-study referral, and
# show the case it becomes. MARRAC_DEMO_KEEP_RUNNING=1 leaves the hub running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
# The agency pages' GOV.UK styling (npm ci); without npm they render unstyled.
MARRAC_WEB_NO_BROWSER=1 bash scripts/setup-web.sh || echo "(web assets not installed: pages unstyled)"
hub=".venv/bin/marrac-hub"
export MARRAC_HUB_CONFIG="config/demo.toml"
export MARRAC_HUB_ACTOR="demo-user"

$hub init
mailbox="var/demo/referral-mailbox"
mkdir -p "$mailbox/new" "$mailbox/tmp" "$mailbox/cur" var/demo
log="var/demo/serve.log"
echo "starting the hub (log: $log)..."
$hub serve >>"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT

before=$($hub cases list --json | .venv/bin/python -c 'import json,sys; print(len(json.load(sys.stdin)))')
# Deliver the case-study referral the Maildir way (tmp/ then rename into new/).
name="$(date +%s).$$.demo"
cp tests/fixtures/referrals/01-case-study.eml "$mailbox/tmp/$name"
mv "$mailbox/tmp/$name" "$mailbox/new/$name"
echo "the police referral from the evaluation's case study has arrived; waiting for the hub..."
for _ in $(seq 1 100); do
  [ -z "$(ls -A "$mailbox/new" "$mailbox/cur")" ] && break
  sleep 0.2
done
sleep 0.5
after=$($hub cases list --json | .venv/bin/python -c 'import json,sys; print(len(json.load(sys.stdin)))')
echo
if [ "$after" -gt "$before" ]; then
  ref=$($hub cases list --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[-1]["ref"])')
  echo "== The referral became case $ref =="
  $hub cases show "$ref"
else
  echo "== The same referral was sent before: recorded as a duplicate, no second case =="
  $hub duplicates list
  echo
  $hub cases list
fi
echo
echo "== Mail the hub sent (written to var/demo/sent-mail/new) =="
for f in $(ls -t var/demo/sent-mail/new | head -2); do
  grep -m1 '^Subject:' "var/demo/sent-mail/new/$f" || true
done
echo
if [ "${MARRAC_DEMO_KEEP_RUNNING:-0}" = 1 ]; then
  trap - EXIT
  echo "The hub keeps running (pid $pid). Drop .eml files into $mailbox/new; stop with: kill $pid"
else
  kill -TERM "$pid"; wait "$pid" || true; trap - EXIT
  echo "Hub stopped cleanly. Run again with MARRAC_DEMO_KEEP_RUNNING=1 to leave it running."
fi
