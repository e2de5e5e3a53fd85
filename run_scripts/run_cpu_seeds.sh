#!/usr/bin/env bash
# The CPU comparison over seeds: every arm of run_cpu_demo.sh once per seed (same warm start, the seed sets the data
# order and AERO's seed), then AERO once per seed and per ablation of a DECIDED default, then one report with
# mean ± std over seeds and compute-/time-to-target.
#
# Usage: bash run_scripts/run_cpu_seeds.sh [extra hydra overrides for every run...]
#   SEEDS="0 1 2" x ARMS="grpo aero" with the demo's default steps: about 19 min per seed on 2 cores (60 min from a
#   fresh clone on 2026-12-03's AMD machine); each ablation adds one AERO run per seed (8-9 min per run there; the
#   six default ablations: about 2.6 h more; ABLATIONS="guided race guided_race" runs the wall-clock levers instead).
#   The report's "Ablations" table compares each ablation with the default AERO runs seed by seed.
# Environment (all optional): SEEDS, OUT_DIR, ABLATIONS, and any variable of run_cpu_demo.sh (ARMS, STEPS, BATCH,
# LR, ...). ARMS="" skips the default arms (e.g. to add ablations next to runs already in OUT_DIR/runs).
# Runs land in OUT_DIR/runs/<arm>_s<seed> (ablations: aero_<ablation>_s<seed>); the report in OUT_DIR/report.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"0 1 2"}
OUT_DIR=${OUT_DIR:-outputs/cpu_seeds}
# The held-out set is validated with 64 samples per problem (Avg@8 from all 64, Pass@8 unbiased) at steps 0, 20 and
# 40: measured 3.0-3.4x less sampling noise than the demo's 8 samples (std of one validation 0.005-0.006 instead of
# 0.017) for about 48 s per validation here instead of 9 s; VAL_N=128 gives 4.3x less (docs/results/
# cpu_validation_noise_2026-12-03).
VAL_N=${VAL_N:-64}
TEST_FREQ=${TEST_FREQ:-20}
ARMS=${ARMS-"grpo aero"}

# Each ablation changes one DECIDED default of algorithm.aero (README, configuration table) on the AERO arm.
declare -A ABLATION_OVERRIDES=(
  [decay0]="algorithm.aero.posterior_decay=0"            # the posterior forgets every earlier step (default 0.5)
  [decay1]="algorithm.aero.posterior_decay=1"            # the posterior never forgets (default 0.5)
  [keep0]="algorithm.aero.degenerate_keep=0"             # degenerate groups dropped, DAPO-like (default 4)
  [stats_generated]="algorithm.aero.advantage_stats=generated"  # mixed-group mean/std over all generated (default kept)
  [reject2]="algorithm.aero.reject_ratio=2"              # two incorrect rollouts kept per correct one (default 1)
  [mirror]="algorithm.aero.high_success_curation=mirror"  # high-success groups curated too (default none)
  # The wall-clock levers (README, "Wall-clock levers"), not run unless named in ABLATIONS:
  [guided]="algorithm.aero.guided_exploration=true"      # posterior-guided first rounds
  [race]="algorithm.aero.rescue_race=true"               # rescue race, siblings aborted at the first success
  [guided_race]="algorithm.aero.guided_exploration=true algorithm.aero.rescue_race=true"  # both levers
)
ABLATIONS=${ABLATIONS-"decay0 decay1 keep0 stats_generated reject2 mirror"}
for name in $ABLATIONS; do
  if [ -z "${ABLATION_OVERRIDES[$name]+set}" ]; then
    echo "[seeds] unknown ablation '$name' in ABLATIONS (known: ${!ABLATION_OVERRIDES[*]})" >&2
    exit 2
  fi
done

for seed in $SEEDS; do
  if [ -n "$ARMS" ]; then
    echo "[seeds] $(date +%H:%M:%S) seed $seed: $ARMS"
    SEED=$seed RUN_SUFFIX="_s$seed" OUT_DIR="$OUT_DIR" VAL_N="$VAL_N" TEST_FREQ="$TEST_FREQ" ARMS="$ARMS" bash run_scripts/run_cpu_demo.sh "$@"
  fi
  for name in $ABLATIONS; do
    echo "[seeds] $(date +%H:%M:%S) seed $seed: ablation $name (${ABLATION_OVERRIDES[$name]})"
    read -r -a variant <<< "${ABLATION_OVERRIDES[$name]}"
    SEED=$seed RUN_SUFFIX="_${name}_s$seed" OUT_DIR="$OUT_DIR" VAL_N="$VAL_N" TEST_FREQ="$TEST_FREQ" ARMS=aero \
      bash run_scripts/run_cpu_demo.sh "$@" "${variant[@]}"
  done
done

echo "[seeds] $(date +%H:%M:%S) report over seeds -> $OUT_DIR/report"
source run_scripts/_venv.sh
mapfile -t RUN_DIRS < <(find "$OUT_DIR/runs" -mindepth 1 -maxdepth 1 -type d -name '*_s*' | sort)
python -m recipe.aero.report "${RUN_DIRS[@]}" --out "$OUT_DIR/report" --k "${VAL_K:-8}" > /dev/null
echo "[seeds] $(date +%H:%M:%S) finished: $OUT_DIR/report/report.md"
