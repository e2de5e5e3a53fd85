#!/usr/bin/env bash
# GPU smoke run: the first thing to run on a new cluster, before any paper-scale launcher. Two modes:
#
# * MODE=arms (default): one GPU, the model you name (default Qwen2.5-Math-1.5B), a few training steps of each arm
#   (GRPO, then AERO) with short responses and a small validation before and after.
# * MODE=node: a paper launcher (LAUNCHER, default run_qwen2.5_7b.sh: Megatron actor TP 4, vLLM TP 2, 8 GPUs) on its
#   real node shape and lengths, for NODE_STEPS=3 steps in two launches: steps 1..2 with a checkpoint at step 2, then
#   the same launcher again, resumed from that checkpoint, for step 3. Green means the launcher starts, syncs its
#   weights into vLLM (resharding TP 4 -> TP 2), saves, resumes and syncs again.
#
# Each launch runs under a time limit (ARM_TIMEOUT_S; verl's sync sampler would otherwise wait for ever on a hung
# rollout); one that hits it is reported with the phase it hung in, read from its console log. After all launches,
# `python -m recipe.aero.smoke_summary --eos-check` prints one screen: time per phase, peak memory, clip ratio,
# reward errors, rollout-vs-trainer probability gap, AERO's rollouts per prompt, rescue and race counts, the resume,
# the EOS check re-run on the now downloaded model files (also right after the first launch, which stops the smoke
# run when the model would not stop), and where a few sample responses were written.
# Exit status: non-zero when a launch failed or timed out, or a summary check triggered.
#
# Usage: [MODE=arms|node] [MODEL_PATH=...] [DATA_DIR=...] [DRY_RUN=1] bash run_scripts/run_gpu_smoke.sh [overrides]
#   DRY_RUN=1 composes and validates every launch's config (python -m recipe.aero.preflight), starts nothing.
#   Hydra overrides go to every launch, after the smoke's own (so they win).
# Output: OUT_DIR/<arm>/{log.txt,metrics.jsonl,arm_status.json,gpu_memory.csv,rollouts/,samples.txt,.hydra/}
#   (node mode: also OUT_DIR/<arm>/checkpoints/ and OUT_DIR/<arm>/resumed/), OUT_DIR/summary.txt.
set -xeuo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$REPO_ROOT/run_scripts/run_gpu_smoke.sh"

# ---- mode, time limit, output -----------------------------------------------------------------------------------
MODE=${MODE:-arms}
case "$MODE" in
  arms) DEFAULT_TIMEOUT_S=3600; DEFAULT_ARMS="grpo aero" ;;  # start-up + 4 short steps + 2 small validations
  node) DEFAULT_TIMEOUT_S=5400; DEFAULT_ARMS="aero" ;;       # 7B start-up, 2 full steps, a ~100 GB checkpoint save
  *) echo "MODE must be arms or node, got '$MODE'" >&2; exit 2 ;;
esac
ARMS=${ARMS:-$DEFAULT_ARMS}
ARM_TIMEOUT_S=${ARM_TIMEOUT_S:-$DEFAULT_TIMEOUT_S}  # per launch; estimates (nothing here has run on a GPU yet)
KILL_AFTER_S=${KILL_AFTER_S:-120}                   # SIGKILL this long after the SIGTERM of a timed-out launch
SAMPLES=${SAMPLES:-4}                               # sample responses written per launch (OUT_DIR/<arm>/samples.txt)
OUT_DIR=${OUT_DIR:-outputs/gpu_smoke/$(date +%Y%m%d_%H%M%S)}
DRY_RUN=${DRY_RUN:-0}

# ---- MODE=arms: what to smoke-test, small and short -------------------------------------------------------------
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-Math-1.5B}
MODEL_TAG=${MODEL_TAG:-smoke}
ENGINE=${ENGINE:-fsdp}               # megatron: exercises the Megatron stack with TP=ACTOR_TP on the one GPU
ACTOR_TP=${ACTOR_TP:-1}
ACTOR_PP=${ACTOR_PP:-1}
# True: FSDP2 with CPUOffloadPolicy (parameters, gradients and the Adam step on the CPU), what a 7B actor on one 80 GB
# GPU needs; Megatron: verl's param/optimizer offload between phases (the update still loads everything back).
ACTOR_OFFLOAD=${ACTOR_OFFLOAD:-False}
GPU_ID=${CUDA_VISIBLE_DEVICES:-0}
N_GPUS_PER_NODE_ARMS=1
ROLLOUT_TP_ARMS=1
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
PROJECT_NAME=${PROJECT_NAME:-aero_smoke}

# ---- MODE=node: the paper launcher, its own settings except the schedule ----------------------------------------
LAUNCHER=${LAUNCHER:-run_qwen2.5_7b.sh}  # a model script of run_scripts/ (ALGO picks the arm)
NODE_SAVE_STEP=${NODE_SAVE_STEP:-2}      # the first launch trains steps 1..NODE_SAVE_STEP and saves there
NODE_STEPS=${NODE_STEPS:-3}              # the resumed launch trains on to this step
NODE_VAL_MAX_SAMPLES=${NODE_VAL_MAX_SAMPLES:-64}  # validation before step 1 and after the last, on this many problems

# Samples the GPUs' memory every second (all processes, vLLM's KV cache included) into $1/gpu_memory.csv.
GPU_MEMORY_PID=""
start_gpu_memory_log() {
  if command -v nvidia-smi > /dev/null; then
    local select=()
    if [ "$MODE" = arms ]; then select=(--id="${GPU_ID%%,*}"); fi
    nvidia-smi "${select[@]}" --query-gpu=memory.used,memory.total --format=csv,noheader,nounits -l 1 \
      > "$1/gpu_memory.csv" &
    GPU_MEMORY_PID=$!
  fi
}
stop_gpu_memory_log() {
  if [ -n "$GPU_MEMORY_PID" ]; then kill "$GPU_MEMORY_PID" || true; wait "$GPU_MEMORY_PID" || true; fi
  GPU_MEMORY_PID=""
}

# MODE=arms, one arm, in a subshell so that _launch_common.sh's defaults (EXP_NAME, ...) are computed per arm.
launch_arm() {
  local arm=$1 run_dir=$2
  shift 2
  (
    ALGO=$arm
    N_GPUS_PER_NODE=$N_GPUS_PER_NODE_ARMS
    NNODES=1
    ROLLOUT_TP=$ROLLOUT_TP_ARMS
    LOGGER='["console","file"]'
    CKPTS_DIR=$run_dir/checkpoints
    export CUDA_VISIBLE_DEVICES=$GPU_ID
    # shellcheck source=run_scripts/_launch_common.sh
    source "$REPO_ROOT/run_scripts/_launch_common.sh"
    local overrides=(data.val_max_samples="$VAL_MAX_SAMPLES")
    case "$ENGINE:${ACTOR_OFFLOAD,,}" in
      fsdp:true)
        overrides+=(actor_rollout_ref.actor.strategy=fsdp2 actor_rollout_ref.actor.fsdp_config.offload_policy=True) ;;
      megatron:true)
        overrides+=(actor_rollout_ref.actor.megatron.param_offload=True
          actor_rollout_ref.actor.megatron.optimizer_offload=True) ;;
    esac
    export VERL_FILE_LOGGER_PATH=$run_dir/metrics.jsonl
    launch_aero_recipe "${overrides[@]}" trainer.rollout_data_dir="$run_dir/rollouts" hydra.run.dir="$run_dir" "$@"
  )
}

# MODE=node, the command of one launch of the paper launcher, into NODE_CMD: $1 arm, $2 run dir, $3 "first" (steps
# 1..NODE_SAVE_STEP, saved at the last) or "resumed" (on to NODE_STEPS from the checkpoint in $4, no second save).
node_command() {
  local arm=$1 run_dir=$2 part=$3 ckpts=$4
  shift 4
  local steps=$NODE_SAVE_STEP save=$NODE_SAVE_STEP test=-1 val_before=True resume=disable
  if [ "$part" = resumed ]; then steps=$NODE_STEPS save=-1 test=$NODE_STEPS val_before=False resume=auto; fi
  NODE_CMD=(
    env ALGO="$arm" TOTAL_TRAINING_STEPS="$steps" SAVE_FREQ="$save" TEST_FREQ="$test" CKPTS_DIR="$ckpts"
    PROJECT_NAME=aero_node_smoke EXP_NAME="node_smoke_$arm" LOGGER='["console","file"]' DRY_RUN="$DRY_RUN"
    VERL_FILE_LOGGER_PATH="$run_dir/metrics.jsonl"
    bash "$REPO_ROOT/run_scripts/$LAUNCHER"
    data.val_max_samples="$NODE_VAL_MAX_SAMPLES" trainer.val_before_train="$val_before" trainer.resume_mode="$resume"
    trainer.rollout_data_dir="$run_dir/rollouts" hydra.run.dir="$run_dir" "$@"
  )
}

# Re-invoked by run_limited for one arm (GNU timeout needs a command, not a shell function).
if [ -n "${SMOKE_ONE_ARM:-}" ]; then
  launch_arm "$SMOKE_ONE_ARM" "$SMOKE_RUN_DIR" "$@"
  exit
fi

# Runs "$@" under ARM_TIMEOUT_S with its output in $1/log.txt (shown as it comes) and writes $1/arm_status.json
# (exit code: 124 = SIGTERM at the limit, 137 = SIGKILL KILL_AFTER_S later). timeout runs in its own process group and
# signals all of it; Ctrl-C here stops the launch the same way, then the script.
ARM_PID=""
INTERRUPTED=0
on_signal() {
  INTERRUPTED=1
  if [ -n "$ARM_PID" ]; then kill -TERM "$ARM_PID" 2> /dev/null || true; fi
}
trap on_signal INT TERM
run_limited() {
  local run_dir=$1 rc=0 start=$SECONDS tail_pid
  shift
  mkdir -p "$run_dir"
  start_gpu_memory_log "$run_dir"
  timeout --kill-after="$KILL_AFTER_S" "$ARM_TIMEOUT_S" "$@" > "$run_dir/log.txt" 2>&1 &
  ARM_PID=$!
  tail -n +1 -f --pid="$ARM_PID" "$run_dir/log.txt" &
  tail_pid=$!
  wait "$ARM_PID" || rc=$?
  while kill -0 "$ARM_PID" 2> /dev/null; do wait "$ARM_PID" || rc=$?; done  # a signal ended the first wait early
  ARM_PID=""
  wait "$tail_pid" || true
  stop_gpu_memory_log
  printf '{"exit_code": %d, "timeout_s": %d, "wall_s": %d}\n' "$rc" "$ARM_TIMEOUT_S" "$((SECONDS - start))" \
    > "$run_dir/arm_status.json"
  if [ "$INTERRUPTED" = 1 ]; then echo "interrupted: $run_dir/log.txt" >&2; exit 130; fi
  return "$rc"
}

if [ "$DRY_RUN" = "1" ]; then
  for arm in $ARMS; do
    run_dir="$(realpath -m "$OUT_DIR/$arm")"
    if [ "$MODE" = arms ]; then
      launch_arm "$arm" "$run_dir" "$@"
    else
      node_command "$arm" "$run_dir" first "$run_dir/checkpoints" "$@"
      "${NODE_CMD[@]}"
      node_command "$arm" "$run_dir/resumed" resumed "$run_dir/checkpoints" "$@"
      "${NODE_CMD[@]}"
    fi
  done
  exit 0
fi

FAILED=()
RUN_DIRS=()
EOS_CHECKED=0
for arm in $ARMS; do
  run_dir="$(realpath -m "$OUT_DIR/$arm")"
  RUN_DIRS+=("$run_dir")
  rc=0
  if [ "$MODE" = arms ]; then
    SMOKE_ONE_ARM=$arm SMOKE_RUN_DIR=$run_dir run_limited "$run_dir" bash "$SELF" "$@" || rc=$?
  else
    node_command "$arm" "$run_dir" first "$run_dir/checkpoints" "$@"
    run_limited "$run_dir" "${NODE_CMD[@]}" || rc=$?
    if [ "$rc" -eq 0 ]; then  # the resumed launch needs the first one's checkpoint
      node_command "$arm" "$run_dir/resumed" resumed "$run_dir/checkpoints" "$@"
      run_limited "$run_dir/resumed" "${NODE_CMD[@]}" || rc=$?
    fi
  fi
  if [ "$rc" -ne 0 ]; then
    FAILED+=("$arm (exit $rc, see $run_dir)")
    # A launch killed at its limit may leave Ray / vLLM processes holding the GPUs: later launches would only fail.
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      echo "$arm hit ARM_TIMEOUT_S=$ARM_TIMEOUT_S: no further launches; check for leftover processes (ray stop)" >&2
      break
    fi
  fi
  # The preflight could only warn about a hub id not yet downloaded; the first launch has fetched the files, so the EOS
  # check runs on them now, and a model that would not stop ends the smoke run before the next launches hit the cap.
  if [ "$EOS_CHECKED" = 0 ] && [ -f "$run_dir/.hydra/config.yaml" ]; then
    EOS_CHECKED=1
    if ! python3 -m recipe.aero.smoke_summary --eos-only "$run_dir" | tee "$OUT_DIR/eos_check.txt"; then
      FAILED+=("$arm (EOS check, see $OUT_DIR/eos_check.txt)")
      break
    fi
  fi
done

rc=0
python3 -m recipe.aero.smoke_summary --eos-check --samples "$SAMPLES" "${RUN_DIRS[@]}" | tee "$OUT_DIR/summary.txt" \
  || rc=$?
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "FAILED arms: ${FAILED[*]}" | tee -a "$OUT_DIR/summary.txt"
  exit 1
fi
exit "$rc"
