#!/usr/bin/env bash
# Runs the whole test suite (lint included) on a CPU machine; creates/updates .venv first.
# Usage: bash run_scripts/test.sh [pytest args...]   (no path given: pytest.ini's testpaths = tests, i.e. everything)
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_venv.sh
# No usage reports to Ray's servers from the test runs (CI included: .ci/run runs this script); the CPU harness
# (aero_cpu.launcher.cpu_env, aero_cpu.overrides.cpu_overrides) sets it too, for runs started without this script.
export RAY_USAGE_STATS_ENABLED=0

set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[aero] pytest collected no tests (exit 5): a selection that matches nothing is a failure, not a pass" >&2
fi
exit "$rc"
