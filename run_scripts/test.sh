#!/usr/bin/env bash
# Runs the whole test suite (lint included) on a CPU machine; creates/updates .venv first.
# Usage: bash run_scripts/test.sh [pytest args...]   (no path given: pytest.ini's testpaths = tests, i.e. everything)
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_venv.sh

set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[aero] pytest collected no tests: treating as failure-free but empty selection" >&2
  exit 0
fi
exit "$rc"
