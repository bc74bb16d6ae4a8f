#!/usr/bin/env bash
# The one test command (README, .ci/run): install everything a fresh Debian machine needs,
# then run ruff, mypy and the whole pytest suite.
#   - Debian packages for the lab tests: listed in scripts/apt/*.txt (installed when root).
#   - A virtualenv in .venv with presend and its test extras.
# Extra arguments go to pytest (e.g. scripts/test.sh -k dns).
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(cat scripts/apt/*.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \n' ' ')
missing=""
for pkg in $want; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "scripts/test.sh: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Services must not start on their own: the tests start what they need.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends $missing
    rm -f /usr/sbin/policy-rc.d
  else
    echo "scripts/test.sh: cannot install Debian packages:$missing (not root); lab tests will skip" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
