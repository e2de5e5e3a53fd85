#!/usr/bin/env bash
# GPU smoke run: the first thing to run on a new cluster, before any paper-scale launcher. One GPU, the model you
# name (default Qwen2.5-Math-1.5B), a few training steps of each arm (GRPO, then AERO) with short responses and a
# small validation before and after, then a one-screen summary (python -m recipe.aero.smoke_summary): time per
# phase, peak memory, response clip ratio, reward errors, rollout vs trainer log-prob agreement.
# Exit status: non-zero when an arm failed or a summary check triggered.
#
# Usage: [MODEL_PATH=...] [DATA_DIR=...] [DRY_RUN=1] bash run_scripts/run_gpu_smoke.sh [hydra overrides for both arms]
#   DRY_RUN=1 composes and validates both arms' configs (python -m recipe.aero.preflight), starts nothing.
# Output: OUT_DIR/<arm>/{log.txt,metrics.jsonl,gpu_memory.csv,.hydra/}, OUT_DIR/summary.txt.
set -xeuo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---- what to smoke-test -----------------------------------------------------------------------------------------
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-Math-1.5B}
MODEL_TAG=${MODEL_TAG:-smoke}
ENGINE=${ENGINE:-fsdp}               # megatron: exercises the Megatron stack with TP=ACTOR_TP on the one GPU
ACTOR_TP=${ACTOR_TP:-1}
ACTOR_PP=${ACTOR_PP:-1}
ACTOR_OFFLOAD=${ACTOR_OFFLOAD:-False}  # actor param + optimizer offload to CPU: a 7B model on one GPU needs it
ARMS=${ARMS:-"grpo aero"}

# ---- small and short (the _launch_common.sh variables; anything not set here keeps the paper launchers' value) --
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
N_GPUS_PER_NODE=1
NNODES=1
ROLLOUT_TP=1
ROLLOUT_GPU_MEM=${ROLLOUT_GPU_MEM:-0.5}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-1024}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-1024}
ACTOR_MAX_TOKEN_LEN_PER_GPU=${ACTOR_MAX_TOKEN_LEN_PER_GPU:-16384}
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-16}
PPO_MINI_BATCH_SIZE=${PPO_MINI_BATCH_SIZE:-8}
TOTAL_TRAINING_STEPS=${TOTAL_TRAINING_STEPS:-4}
TEST_FREQ=${TEST_FREQ:-$TOTAL_TRAINING_STEPS}  # validation before training and after the last step
SAVE_FREQ=${SAVE_FREQ:--1}                     # = TOTAL_TRAINING_STEPS to time one checkpoint save as well
VAL_N=${VAL_N:-4}
VAL_MAX_SAMPLES=${VAL_MAX_SAMPLES:-64}
DATA_DIR=${DATA_DIR:-$HOME/data/aero}
TRAIN_FILES=${TRAIN_FILES:-"['$DATA_DIR/math_lighteval.parquet']"}
VAL_FILES=${VAL_FILES:-"['$DATA_DIR/math500.parquet']"}
LOGGER='["console","file"]'
PROJECT_NAME=${PROJECT_NAME:-aero_smoke}
OUT_DIR=${OUT_DIR:-outputs/gpu_smoke/$(date +%Y%m%d_%H%M%S)}
DRY_RUN=${DRY_RUN:-0}

case "$ENGINE" in
  fsdp) OFFLOAD_KEY=actor_rollout_ref.actor.fsdp_config ;;
  megatron) OFFLOAD_KEY=actor_rollout_ref.actor.megatron ;;
  *) echo "ENGINE must be fsdp or megatron, got '$ENGINE'" >&2; exit 2 ;;
esac
SMOKE_OVERRIDES=(
  data.val_max_samples="$VAL_MAX_SAMPLES"
  "$OFFLOAD_KEY".param_offload="$ACTOR_OFFLOAD"
  "$OFFLOAD_KEY".optimizer_offload="$ACTOR_OFFLOAD"
)

# Samples the GPU's memory every second (all processes, vLLM's KV cache included) into $1/gpu_memory.csv.
GPU_MEMORY_PID=""
start_gpu_memory_log() {
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --id="${CUDA_VISIBLE_DEVICES%%,*}" --query-gpu=memory.used,memory.total \
      --format=csv,noheader,nounits -l 1 > "$1/gpu_memory.csv" &
    GPU_MEMORY_PID=$!
  fi
}
stop_gpu_memory_log() {
  if [ -n "$GPU_MEMORY_PID" ]; then kill "$GPU_MEMORY_PID" || true; wait "$GPU_MEMORY_PID" || true; fi
  GPU_MEMORY_PID=""
}

# One arm, in a subshell so that _launch_common.sh's defaults (EXP_NAME, ...) are computed per arm.
launch_arm() {
  local arm=$1 run_dir=$2
  shift 2
  (
    ALGO=$arm
    CKPTS_DIR=$run_dir/checkpoints
    # shellcheck source=run_scripts/_launch_common.sh
    source "$REPO_ROOT/run_scripts/_launch_common.sh"
    export VERL_FILE_LOGGER_PATH=$run_dir/metrics.jsonl
    launch_aero_recipe "${SMOKE_OVERRIDES[@]}" hydra.run.dir="$run_dir" "$@"
  )
}

if [ "$DRY_RUN" = "1" ]; then
  for arm in $ARMS; do
    launch_arm "$arm" "$(realpath -m "$OUT_DIR/$arm")" "$@"
  done
  exit 0
fi

FAILED=()
RUN_DIRS=()
for arm in $ARMS; do
  run_dir="$(realpath -m "$OUT_DIR/$arm")"
  mkdir -p "$run_dir"
  RUN_DIRS+=("$run_dir")
  start_gpu_memory_log "$run_dir"
  rc=0
  launch_arm "$arm" "$run_dir" "$@" 2>&1 | tee "$run_dir/log.txt" || rc=$?
  stop_gpu_memory_log
  if [ "$rc" -ne 0 ]; then FAILED+=("$arm (exit $rc, see $run_dir/log.txt)"); fi
done

rc=0
python3 -m recipe.aero.smoke_summary "${RUN_DIRS[@]}" | tee "$OUT_DIR/summary.txt" || rc=$?
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "FAILED arms: ${FAILED[*]}" | tee -a "$OUT_DIR/summary.txt"
  exit 1
fi
exit "$rc"
