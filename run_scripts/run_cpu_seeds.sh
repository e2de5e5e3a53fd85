#!/usr/bin/env bash
# The CPU comparison over paired seeds that decides AERO's update sizing and batch composition (recipe/aero/DESIGN.md
# §7), then one report with the comparison table and plot.
#
# Usage: bash run_scripts/run_cpu_seeds.sh [extra hydra overrides for every run...]
#   1. GRPO, every seed; stops (exit 3) unless GRPO gains >= 10 points of held-out Avg@8 in every seed;
#   2. AERO with update_sizing=steps and with update_sizing=samples, every seed;
#   3. the sizing DESIGN.md §7's rule picks from those runs, then AERO on it with degenerate_loss_share=0.5, every seed;
#   4. AERO on it with both wall-clock levers (guided exploration + rescue race) on LEVER_SEEDS (default 0 1 2).
#   Each run is the demo's (run_cpu_demo.sh: 40 steps x 16 prompts), validated with 64 samples per problem every 10
#   steps; runs land in OUT_DIR/runs/<arm>_s<seed>, the report in OUT_DIR/report (comparison.md, report.md).
#   KEEP_DONE_RUNS=1 (the default here) keeps every run that already finished, so an interrupted benchmark goes on
#   where it stopped.
# Environment (all optional): SEEDS, LEVER_SEEDS, OUT_DIR, ABLATIONS (extra ablations of the chosen AERO arm, none by
# default: see ABLATION_OVERRIDES), and any variable of run_cpu_demo.sh (STEPS, BATCH, LR, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"0 1 2 3 4 5"}
LEVER_SEEDS=${LEVER_SEEDS-"0 1 2"}
OUT_DIR=${OUT_DIR:-outputs/cpu_seeds}
# 64 samples per problem: std of one validation's Avg@8 0.005-0.006, 3x less than the demo's 8 samples (docs/results/
# cpu_validation_noise_2026-12-03); every 10 steps, so time-to-target is resolved to a quarter of the run.
export VAL_N=${VAL_N:-64}
export TEST_FREQ=${TEST_FREQ:-10}
export KEEP_DONE_RUNS=${KEEP_DONE_RUNS:-1}
export DEMO_REPORT=0
MIN_GRPO_GAIN=${MIN_GRPO_GAIN:-0.10}

# Ablations of one DECIDED default each (README, configuration table), run on the chosen AERO arm when named in
# ABLATIONS; their runs are aero_<sizing>_<name>_s<seed>.
declare -A ABLATION_OVERRIDES=(
  [decay0]="algorithm.aero.posterior_decay=0"            # the posterior forgets every earlier step (default 0.5)
  [decay1]="algorithm.aero.posterior_decay=1"            # the posterior never forgets (default 0.5)
  [keep0]="algorithm.aero.degenerate_keep=0"             # degenerate groups dropped, DAPO-like (default 4)
  [stats_generated]="algorithm.aero.advantage_stats=generated"  # mixed-group mean/std over all generated (default kept)
  [reject2]="algorithm.aero.reject_ratio=2"              # two incorrect rollouts kept per correct one (default 1)
  [mirror]="algorithm.aero.high_success_curation=mirror"  # high-success groups curated too (default none)
  [guided]="algorithm.aero.guided_exploration=true"      # posterior-guided first rounds (wall-clock lever)
  [race]="algorithm.aero.rescue_race=true"               # rescue race, siblings aborted at the first success (lever)
  [levers]="algorithm.aero.guided_exploration=true algorithm.aero.rescue_race=true"  # both wall-clock levers
)
ABLATIONS=${ABLATIONS-""}
for name in $ABLATIONS; do
  if [ -z "${ABLATION_OVERRIDES[$name]+set}" ]; then
    echo "[seeds] unknown ablation '$name' in ABLATIONS (known: ${!ABLATION_OVERRIDES[*]})" >&2
    exit 2
  fi
done

say() { echo "[seeds] $(date +%H:%M:%S) $*"; }

# aero_run SEED NAME OVERRIDES...: one AERO run named aero_<NAME>_s<SEED>.
aero_run() {
  local seed=$1 name=$2
  shift 2
  say "seed $seed: aero_$name ($*)"
  SEED=$seed RUN_SUFFIX="_${name}_s$seed" OUT_DIR="$OUT_DIR" ARMS=aero bash run_scripts/run_cpu_demo.sh "${EXTRA_ARGS[@]}" "$@"
}

EXTRA_ARGS=("$@")
report() { python -m recipe.aero.comparison "$@"; }

# 1. GRPO alone, every seed: the benchmark's settings are kept only if GRPO learns in every seed.
for seed in $SEEDS; do
  say "seed $seed: grpo"
  SEED=$seed RUN_SUFFIX="_s$seed" OUT_DIR="$OUT_DIR" ARMS=grpo bash run_scripts/run_cpu_demo.sh "${EXTRA_ARGS[@]}"
done
source run_scripts/_venv.sh
if ! report check-grpo "$OUT_DIR/runs" --min-gain "$MIN_GRPO_GAIN"; then
  say "GRPO gained less than $MIN_GRPO_GAIN in some seed: no AERO run on these settings (DESIGN.md §7)"
  exit 3
fi

# 2. AERO with each update sizing.
for seed in $SEEDS; do
  aero_run "$seed" steps algorithm.aero.update_sizing=steps
  aero_run "$seed" samples algorithm.aero.update_sizing=samples
done

# 3. The sizing DESIGN.md §7's rule picks, then the batch-composition key on it.
SIZING=$(report pick-sizing "$OUT_DIR/runs")
say "update sizing chosen by the rule: $SIZING"
for seed in $SEEDS; do
  aero_run "$seed" "${SIZING}_share" "algorithm.aero.update_sizing=$SIZING" algorithm.aero.degenerate_loss_share=0.5
  for name in $ABLATIONS; do
    read -r -a variant <<< "${ABLATION_OVERRIDES[$name]}"
    aero_run "$seed" "${SIZING}_$name" "algorithm.aero.update_sizing=$SIZING" "${variant[@]}"
  done
done

# 4. Both wall-clock levers on the chosen sizing (fewer seeds: they decide no default).
read -r -a levers <<< "${ABLATION_OVERRIDES[levers]}"
for seed in $LEVER_SEEDS; do
  aero_run "$seed" "${SIZING}_levers" "algorithm.aero.update_sizing=$SIZING" "${levers[@]}"
done

say "report -> $OUT_DIR/report"
mapfile -t RUN_DIRS < <(find "$OUT_DIR/runs" -mindepth 1 -maxdepth 1 -type d -name '*_s*' | sort)
report table "${RUN_DIRS[@]}" --out "$OUT_DIR/report"
python -m recipe.aero.report "${RUN_DIRS[@]}" --out "$OUT_DIR/report" --k "${VAL_K:-8}" > /dev/null
say "finished: $OUT_DIR/report/comparison.md"
