#!/usr/bin/env bash
# Prove that the wheel is the whole hub: build it from a clean copy of the sources,
# install it (not editable) in a fresh virtual environment outside the checkout, with its
# dependencies from requirements/hub.txt (hashes checked), and from a directory outside
# the checkout run `marrac-hub --help` and `marrac-hub check-config` on a copy of the demo
# settings, then `marrac-hub init` there (the migrations). Any file the hub reads through the source tree instead of the package
# (schemas, request templates, web templates, migrations) fails here. .ci/run calls it;
# it runs alone too: bash scripts/check-wheel.sh (about a minute, PyPI or a warm pip cache).
# MARRAC_CHECK_WHEEL_KEEP=1 keeps the temporary directory for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$PWD"

work=$(mktemp -d "${TMPDIR:-/tmp}/marrac-hub-wheel.XXXXXX")
case "$work" in
  "$checkout"/*) echo "check-wheel: $work is inside the checkout" >&2; exit 1 ;;
esac
if [ "${MARRAC_CHECK_WHEEL_KEEP:-0}" = 1 ]; then
  trap 'echo "check-wheel: kept $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
step() { echo "check-wheel: $*"; }

# A copy, so that setuptools' build/ of an earlier build (which keeps modules since
# deleted) cannot leak into the wheel. Only what the build reads: anything else the
# package needs at run time must be inside hub/ or connectors/ (or linked from there).
step "copying the sources to $work/src"
mkdir "$work/src"
tar -C "$checkout" --exclude=__pycache__ --exclude='*.pyc' -cf - \
  pyproject.toml README.md hub connectors schemas config | tar -C "$work/src" -xf -

step "creating a fresh virtual environment, dependencies from requirements/hub.txt"
python3 -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --require-hashes -r "$checkout/requirements/hub.txt"

step "building the wheel (the build backend pinned in the lock, no build isolation)"
"${pip[@]}" wheel --no-deps --no-build-isolation -w "$work/dist" "$work/src"
wheel=$(echo "$work"/dist/marrac_hub-*.whl)
[ -f "$wheel" ] || { echo "check-wheel: no wheel built" >&2; exit 1; }

step "checking the wheel carries every data file of the package"
"$work/venv/bin/python" - "$work/src" "$wheel" <<'EOF'
import os
import sys
import zipfile
from pathlib import Path

src, wheel = Path(sys.argv[1]), sys.argv[2]
shipped = set(zipfile.ZipFile(wheel).namelist())
# Through the links too (hub/schemas, hub/request_templates).
wanted = {
    (Path(root) / name).relative_to(src).as_posix()
    for top in ("hub", "connectors")
    for root, _dirs, names in os.walk(src / top, followlinks=True)
    for name in names
}
missing = sorted(wanted - shipped)
if missing:
    sys.exit("check-wheel: the wheel leaves out:\n  " + "\n  ".join(missing))
print(f"check-wheel: {len(wanted)} files of hub/ and connectors/ all in {Path(wheel).name}")
EOF

step "installing $(basename "$wheel") (not editable)"
"${pip[@]}" install --no-deps --no-index "$wheel"
step "requirements/hub.txt satisfies the wheel's dependencies (pip check)"
"${pip[@]}" check

# Run where nothing of the checkout is within reach: no source tree on the path, the
# settings copied (their relative paths then point inside $work, not at the checkout).
mkdir -p "$work/run" "$work/config"
cp "$checkout/config/demo.toml" "$work/config/demo.toml"
cd "$work/run"
unset PYTHONPATH MARRAC_HUB_CONFIG
export MARRAC_HUB_ACTOR="check-wheel"
step "the hub imports from the installed package, and reads its schemas and templates there"
"$work/venv/bin/python" - "$work/venv" <<'EOF'
import sys
from pathlib import Path

import connectors
import hub

venv = Path(sys.argv[1]).resolve()
for package in (hub, connectors):
    where = Path(package.__file__).resolve()
    if venv not in where.parents:
        sys.exit(f"check-wheel: {package.__name__} comes from {where}, not the wheel")

from hub.resources import request_templates_dir, schema

schema("referral.schema.json")
if not sorted(request_templates_dir().glob("*.toml")):
    sys.exit(f"check-wheel: no request templates in {request_templates_dir()}")
EOF
step "marrac-hub --help"
"$work/venv/bin/marrac-hub" --help >/dev/null
step "marrac-hub check-config --config $work/config/demo.toml"
"$work/venv/bin/marrac-hub" check-config --config "$work/config/demo.toml"
# Beyond the two commands: the Alembic migrations run from the wheel too (SQLite, keys
# generated under $work/var/demo).
step "marrac-hub init (the demo settings: SQLite and keys under $work/var)"
"$work/venv/bin/marrac-hub" init --config "$work/config/demo.toml" >/dev/null
step "passed"
