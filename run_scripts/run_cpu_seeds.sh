#!/usr/bin/env bash
# The CPU comparison over seeds: every arm of run_cpu_demo.sh once per seed (same warm start, the seed sets the data
# order and AERO's seed), then one report with mean ± std over seeds and compute-/time-to-target.
#
# Usage: bash run_scripts/run_cpu_seeds.sh [extra hydra overrides for every run...]
#   SEEDS="0 1 2" (default) x ARMS="grpo aero" with the demo's default steps: about 15 min per seed on 2 cores.
# Environment (all optional): SEEDS, OUT_DIR, and any variable of run_cpu_demo.sh (ARMS, STEPS, BATCH, LR, ...).
# Runs land in OUT_DIR/runs/<arm>_s<seed>; the report in OUT_DIR/report.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"0 1 2"}
OUT_DIR=${OUT_DIR:-outputs/cpu_seeds}
VAL_N=${VAL_N:-8}

for seed in $SEEDS; do
  echo "[seeds] $(date +%H:%M:%S) seed $seed"
  SEED=$seed RUN_SUFFIX="_s$seed" OUT_DIR="$OUT_DIR" VAL_N="$VAL_N" bash run_scripts/run_cpu_demo.sh "$@"
done

echo "[seeds] $(date +%H:%M:%S) report over seeds -> $OUT_DIR/report"
source run_scripts/_venv.sh
mapfile -t RUN_DIRS < <(find "$OUT_DIR/runs" -mindepth 1 -maxdepth 1 -type d -name '*_s*' | sort)
python -m recipe.aero.report "${RUN_DIRS[@]}" --out "$OUT_DIR/report" --k "$VAL_N" > /dev/null
echo "[seeds] $(date +%H:%M:%S) finished: $OUT_DIR/report/report.md"
