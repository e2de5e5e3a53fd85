#!/usr/bin/env bash
# One-command CPU reproduction of the paper's comparison: GRPO (N = 8) vs AERO (n_explore 4, budget 8) on the
# synthetic arithmetic task with a warm-started tiny Qwen2, then the paper-style table and plots.
#
# Usage: bash run_scripts/run_cpu_demo.sh [--quick] [extra hydra overrides for both arms...]
#   --quick   4 steps x 8 prompts, validation at steps 0 and 4 (a few minutes with cached assets)
#   (default) 40 steps x 16 prompts (2.5 epochs of the 256 training prompts), 4 PPO epochs per step of 2 mini-batches
#             of 8 prompts each, validation every 10 steps: about 8 min per arm on 2 cores with cached assets
#   The first run also builds the assets (data + noisy-label warm start, ~4 min on 2 idle cores, longer when shared).
# Environment (all optional): the variables below, e.g. OUT_DIR, CACHE_DIR, SEED, STEPS, TEST_FREQ, BATCH, LR.
# Phases print one "[demo] ..." line each; trainer output goes to OUT_DIR/runs/<arm>/log.txt (DEMO_TRACE=1: set -x).
set -euo pipefail
if [ "${DEMO_TRACE:-0}" = 1 ]; then set -x; fi
cd "$(dirname "$0")/.."
source run_scripts/_venv.sh

QUICK=0
if [ "${1:-}" = "--quick" ]; then
  QUICK=1
  shift
fi

# ---- hyper-parameters -------------------------------------------------------------------------------------
OUT_DIR=${OUT_DIR:-outputs/cpu_demo}
CACHE_DIR=${CACHE_DIR:-.cache/cpu_demo}
SEED=${SEED:-0}              # the runs' data order and AERO's seed
ASSET_SEED=${ASSET_SEED:-0}  # the task data and warm start (one warm start shared by every seed)
SFT_SLIP=${SFT_SLIP:-restate}  # what a wrong warm-start label is: restate (one habit, default) or near_miss (per example)
RUN_SUFFIX=${RUN_SUFFIX:-}   # run directories are OUT_DIR/runs/<arm><RUN_SUFFIX> (run_cpu_seeds.sh: _s<seed>)
if [ "$QUICK" = 1 ]; then
  STEPS=${STEPS:-4}
  TEST_FREQ=${TEST_FREQ:-4}
  BATCH=${BATCH:-8}
else
  STEPS=${STEPS:-40}
  TEST_FREQ=${TEST_FREQ:-10}
  BATCH=${BATCH:-16}
fi
GRPO_N=${GRPO_N:-8}
AERO_N_EXPLORE=${AERO_N_EXPLORE:-4}
AERO_BUDGET=${AERO_BUDGET:-8}
LR=${LR:-1e-4}
# PPO mini-batch in prompts: half a step's batch, so GRPO takes 2 optimizer steps per epoch, as the paper-scale
# launchers do (128 prompts, mini-batch 64); chosen on GRPO alone (recipe/aero/DESIGN.md §7).
MINI_BATCH=${MINI_BATCH:-$(( BATCH > 1 ? BATCH / 2 : 1 ))}
PPO_EPOCHS=${PPO_EPOCHS:-4}  # passes over each step's batch: sharpening a noisy warm start needs more than one
VAL_N=${VAL_N:-8}            # validation samples per held-out problem (run_cpu_seeds.sh: 64, for 3.4x less noise)
VAL_K=${VAL_K:-8}            # the report's Avg@k / Pass@k (the paper's 8); Avg@k uses all VAL_N >= VAL_K samples
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-48}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-16}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-1200}
KEEP_DONE_RUNS=${KEEP_DONE_RUNS:-0}  # 1: an arm whose run directory holds a DONE marker is not run again
ARMS=${ARMS:-"grpo aero"}  # a subset re-runs only those arms; the report reads every arm under OUT_DIR/runs
HEAVY_LOCK=${HEAVY_LOCK:-/tmp/aero_heavy.lock}

phase() { echo "[demo] $(date +%H:%M:%S) $*"; }
if [ "$VAL_N" -lt "$VAL_K" ]; then
  phase "VAL_N=$VAL_N is below VAL_K=$VAL_K: Pass@$VAL_K needs at least $VAL_K samples per problem"
  exit 2
fi

# ---- 1. assets: synthetic task + warm-started tiny Qwen2 (cached; rebuilt only when the spec changes) ------
phase "assets: synthetic data + warm start into $CACHE_DIR (cached after the first run)"
mkdir -p "$OUT_DIR"
ASSET_LOCK=(flock "$HEAVY_LOCK")  # training the warm start needs the cores to itself
if python -m aero_cpu.warm_start --cache-dir "$CACHE_DIR" --seed "$ASSET_SEED" --sft-slip "$SFT_SLIP" --check; then
  ASSET_LOCK=()  # cached: nothing to train
fi
"${ASSET_LOCK[@]}" python -m aero_cpu.warm_start --cache-dir "$CACHE_DIR" --seed "$ASSET_SEED" --sft-slip "$SFT_SLIP" \
  > "$OUT_DIR/assets.json" \
  2> "$OUT_DIR/assets.log" || { phase "FAILED: assets (see $OUT_DIR/assets.log)"; tail -n 20 "$OUT_DIR/assets.log"; exit 1; }
MODEL_DIR="$(realpath "$CACHE_DIR/model")"
TRAIN_FILE="$(realpath "$CACHE_DIR/data/train.parquet")"
EVAL_FILE="$(realpath "$CACHE_DIR/data/test.parquet")"
REWARD_FILE="$(realpath aero_cpu/synthetic_reward.py)"
phase "warm start sha256 (differs across CPU types; README FAQ): $(python -c "import json,sys; print(json.load(open(sys.argv[1])).get('model_sha256', 'not recorded (built before it was)'))" "$CACHE_DIR/warm_start.json")"
phase "initial success spread (n=4, temperature 1): $(python -c "import json,sys; d=json.load(open(sys.argv[1])); print({k: d[k] for k in ('share_zero','share_mixed','share_all')})" "$CACHE_DIR/initial_success.json")"

# ---- 2. the CPU platform's overrides (single source: aero_cpu/overrides.py) ----------------------
mapfile -t CPU_OVERRIDES < <(python -c "from aero_cpu.overrides import cpu_overrides; print('\n'.join(cpu_overrides()))")

run_arm() {
  local arm=$1
  shift
  local run_dir
  run_dir="$(realpath -m "$OUT_DIR/runs/$arm$RUN_SUFFIX")"
  if [ "$KEEP_DONE_RUNS" = 1 ] && [ -f "$run_dir/DONE" ]; then
    phase "kept $arm$RUN_SUFFIX: $run_dir/DONE exists (KEEP_DONE_RUNS=1)"
    return 0
  fi
  rm -rf "$run_dir"
  mkdir -p "$run_dir"
  phase "train $arm: $STEPS steps x $BATCH prompts, validation every $TEST_FREQ steps -> $run_dir/log.txt"
  # One console line per step and per validation, read from the run's JSONL while it trains (aero_cpu/progress.py).
  python -m aero_cpu.progress "$run_dir/metrics.jsonl" --arm "$arm" --steps "$STEPS" &
  local progress_pid=$! rc=0
  VERL_PLATFORM=cpu HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
  VERL_FILE_LOGGER_PATH="$run_dir/metrics.jsonl" \
  flock "$HEAVY_LOCK" timeout "$RUN_TIMEOUT_S" python -m recipe.aero.main_aero \
    "${CPU_OVERRIDES[@]}" \
    "hydra.run.dir=$run_dir" \
    "data.train_files=$TRAIN_FILE" \
    "data.val_files=$EVAL_FILE" \
    "data.train_batch_size=$BATCH" \
    "data.max_prompt_length=$MAX_PROMPT_LENGTH" \
    "data.max_response_length=$MAX_RESPONSE_LENGTH" \
    "data.shuffle=True" \
    "data.seed=$SEED" \
    "actor_rollout_ref.model.path=$MODEL_DIR" \
    "actor_rollout_ref.actor.optim.lr=$LR" \
    "actor_rollout_ref.actor.ppo_mini_batch_size=$MINI_BATCH" \
    "actor_rollout_ref.actor.ppo_epochs=$PPO_EPOCHS" \
    "actor_rollout_ref.actor.use_kl_loss=False" \
    "actor_rollout_ref.rollout.temperature=1.0" \
    "actor_rollout_ref.rollout.val_kwargs.n=$VAL_N" \
    "actor_rollout_ref.rollout.val_kwargs.do_sample=True" \
    "actor_rollout_ref.rollout.val_kwargs.temperature=1.0" \
    "actor_rollout_ref.rollout.val_kwargs.top_p=1.0" \
    "reward.custom_reward_function.path=$REWARD_FILE" \
    "reward.custom_reward_function.name=compute_score" \
    "trainer.total_training_steps=$STEPS" \
    "trainer.val_before_train=True" \
    "trainer.test_freq=$TEST_FREQ" \
    "trainer.save_freq=-1" \
    "trainer.default_local_dir=$run_dir/checkpoints" \
    "trainer.project_name=aero_cpu_demo" \
    "trainer.experiment_name=$arm" \
    "$@" > "$run_dir/log.txt" 2>&1 || rc=$?
  kill "$progress_pid" 2>/dev/null || true
  wait "$progress_pid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    phase "FAILED: $arm (tail of $run_dir/log.txt below)"
    tail -n 40 "$run_dir/log.txt"
    exit 1
  fi
  date -u +%FT%TZ > "$run_dir/DONE"
  phase "done $arm"
}

# ---- 3. both arms: same data, same order (data.seed, shuffle), same steps and validation points -----------
for arm in $ARMS; do
  case "$arm" in
    grpo)
      run_arm grpo \
        "algorithm.adv_estimator=grpo" \
        "actor_rollout_ref.rollout.n=$GRPO_N" \
        "$@"
      ;;
    aero)
      run_arm aero \
        "algorithm.adv_estimator=aero" \
        "algorithm.aero.n_explore=$AERO_N_EXPLORE" \
        "algorithm.aero.budget=$AERO_BUDGET" \
        "algorithm.aero.seed=$SEED" \
        "$@"
      ;;
    *)
      phase "unknown arm '$arm' in ARMS (known: grpo aero)"
      exit 2
      ;;
  esac
done

# ---- 4. the paper-style table and plots -------------------------------------------------------------------
if [ "${DEMO_REPORT:-1}" = 0 ]; then  # run_cpu_seeds.sh reports once over all its runs
  exit 0
fi
phase "report -> $OUT_DIR/report"
mapfile -t RUN_DIRS < <(find "$OUT_DIR/runs" -mindepth 1 -maxdepth 1 -type d | sort)
python -m recipe.aero.report "${RUN_DIRS[@]}" --out "$OUT_DIR/report" --k "$VAL_K"
phase "finished: $OUT_DIR/report/report.md"
