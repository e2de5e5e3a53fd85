#!/usr/bin/env bash
# Sourced by run_qwen2.5_{math_1.5b,7b,7b_instruct}.sh after they set their model hyper-parameters: builds the
# override list shared by every model and by both arms (AERO and the matched GRPO baseline, which differ ONLY in
# the algorithm block), then launches `python3 -m recipe.aero.main_aero`, or with DRY_RUN=1 runs
# `python3 -m recipe.aero.preflight` on the same overrides (compose + print + validate, no Ray).
# From the caller: MODEL_TAG, MODEL_PATH, ENGINE (fsdp | megatron; megatron also ACTOR_TP, ACTOR_PP), and any
# hardware / length setting below that differs from the 7B defaults.

# Hardware and lengths (defaults: a 7B model on one 8 x 80 GB node, prompt 1024 + response 4096).
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-1024}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-4096}
# Token budget of one dynamic micro-batch per GPU (must hold at least one prompt + response).
ACTOR_MAX_TOKEN_LEN_PER_GPU=${ACTOR_MAX_TOKEN_LEN_PER_GPU:-20480}
ROLLOUT_TP=${ROLLOUT_TP:-2}
ROLLOUT_GPU_MEM=${ROLLOUT_GPU_MEM:-0.5}
# Megatron activation recompute (Megatron ignores actor_rollout_ref.model.enable_gradient_checkpointing, which only
# the FSDP engine reads): full recompute of every layer, uniformly.
RECOMPUTE_GRANULARITY=${RECOMPUTE_GRANULARITY:-full}
RECOMPUTE_METHOD=${RECOMPUTE_METHOD:-uniform}
RECOMPUTE_NUM_LAYERS=${RECOMPUTE_NUM_LAYERS:-1}

# Algorithm: "aero" (n_explore 4 + rescue up to budget 8) or "grpo" (fixed n = 8, the compared group size).
ALGO=${ALGO:-aero}
N_EXPLORE=${N_EXPLORE:-4}
BUDGET=${BUDGET:-8}
GRPO_N=${GRPO_N:-8}

# Optimisation (paper values NOT FOUND; common verl GRPO math settings: LR 1e-6, k3 KL 1e-3, no entropy bonus).
TRAIN_BATCH_SIZE=${TRAIN_BATCH_SIZE:-128}
PPO_MINI_BATCH_SIZE=${PPO_MINI_BATCH_SIZE:-64}
LR=${LR:-1e-6}
USE_KL_LOSS=${USE_KL_LOSS:-True}
KL_LOSS_COEF=${KL_LOSS_COEF:-0.001}
ENTROPY_COEFF=${ENTROPY_COEFF:-0}
TEMPERATURE=${TEMPERATURE:-1.0}
TOP_P=${TOP_P:-1.0}

# Evaluation: 8 sampled answers per problem -> Avg@8 and unbiased Pass@8.
VAL_N=${VAL_N:-8}
VAL_TEMPERATURE=${VAL_TEMPERATURE:-1.0}
VAL_TOP_P=${VAL_TOP_P:-1.0}

# Schedule and cluster.
NNODES=${NNODES:-1}
TOTAL_TRAINING_STEPS=${TOTAL_TRAINING_STEPS:-500}
TEST_FREQ=${TEST_FREQ:-20}
SAVE_FREQ=${SAVE_FREQ:-50}

# Paths (data from data_prep/prepare_all.sh).
DATA_DIR=${DATA_DIR:-$HOME/data/aero}
TRAIN_FILES=${TRAIN_FILES:-"['$DATA_DIR/math_dapo.parquet','$DATA_DIR/math_lighteval.parquet']"}
VAL_FILES=${VAL_FILES:-"['$DATA_DIR/math500.parquet','$DATA_DIR/aime24.parquet','$DATA_DIR/amc23.parquet','$DATA_DIR/minerva.parquet','$DATA_DIR/olympiadbench.parquet','$DATA_DIR/gsm8k.parquet']"}
PROJECT_NAME=${PROJECT_NAME:-aero}
EXP_NAME=${EXP_NAME:-${MODEL_TAG}_${ALGO}}
CKPTS_DIR=${CKPTS_DIR:-$HOME/ckpts/$PROJECT_NAME/$EXP_NAME}
# wandb only when it can log in without a prompt (WANDB_API_KEY, `wandb login`'s ~/.netrc entry, WANDB_MODE=offline);
# the preflight refuses wandb without credentials, since wandb.init runs only after Ray, vLLM and the actor started.
if [ -n "${WANDB_API_KEY:-}" ] || [ "${WANDB_MODE:-}" = offline ] || grep -qs "api.wandb.ai" "${NETRC:-$HOME/.netrc}"; then
  LOGGER=${LOGGER:-'["console","file","wandb"]'}
else
  LOGGER=${LOGGER:-'["console","file"]'}
fi
DRY_RUN=${DRY_RUN:-0}
# DRY_RUN only: 0 skips the data-file existence check (CI machines have no data).
CHECK_DATA=${CHECK_DATA:-1}

case "$ALGO" in
  aero)
    ALGO_OVERRIDES=(
      algorithm.adv_estimator=aero
      algorithm.aero.n_explore="$N_EXPLORE"
      algorithm.aero.budget="$BUDGET"
    ) ;;
  grpo)
    ALGO_OVERRIDES=(
      algorithm.adv_estimator=grpo
      actor_rollout_ref.rollout.n="$GRPO_N"
    ) ;;
  *) echo "ALGO must be aero or grpo, got '$ALGO'" >&2; exit 2 ;;
esac

case "$ENGINE" in
  fsdp)
    ENGINE_OVERRIDES=(
      actor_rollout_ref.model.enable_gradient_checkpointing=True
      actor_rollout_ref.actor.fsdp_config.param_offload=False
      actor_rollout_ref.ref.fsdp_config.param_offload=True
    ) ;;
  megatron)
    # CUDA_DEVICE_MAX_CONNECTIONS is not exported here: verl puts =1 into the Ray workers' runtime env itself, only
    # for Megatron on Hopper/Ampere (verl/trainer/constants_ppo.py), and leaves it out when the shell already has it,
    # so an export here would reach every process (vLLM's too) and Blackwell GPUs, where verl leaves it unset.
    ENGINE_OVERRIDES=(
      model_engine=megatron
      actor_rollout_ref.actor.megatron.tensor_model_parallel_size="$ACTOR_TP"
      actor_rollout_ref.actor.megatron.pipeline_model_parallel_size="$ACTOR_PP"
      actor_rollout_ref.ref.megatron.tensor_model_parallel_size="$ACTOR_TP"
      actor_rollout_ref.ref.megatron.pipeline_model_parallel_size="$ACTOR_PP"
      actor_rollout_ref.ref.megatron.param_offload=True
      actor_rollout_ref.actor.megatron.override_transformer_config.recompute_granularity="$RECOMPUTE_GRANULARITY"
      actor_rollout_ref.actor.megatron.override_transformer_config.recompute_method="$RECOMPUTE_METHOD"
      actor_rollout_ref.actor.megatron.override_transformer_config.recompute_num_layers="$RECOMPUTE_NUM_LAYERS"
    ) ;;
  *) echo "ENGINE must be fsdp or megatron, got '$ENGINE'" >&2; exit 2 ;;
esac

OVERRIDES=(
  "${ALGO_OVERRIDES[@]}"
  "${ENGINE_OVERRIDES[@]}"
  data.train_files="$TRAIN_FILES"
  data.val_files="$VAL_FILES"
  data.train_batch_size="$TRAIN_BATCH_SIZE"
  data.max_prompt_length="$MAX_PROMPT_LENGTH"
  data.max_response_length="$MAX_RESPONSE_LENGTH"
  data.filter_overlong_prompts=True
  data.truncation=error
  reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward
  reward.custom_reward_function.name=compute_score
  actor_rollout_ref.model.path="$MODEL_PATH"
  actor_rollout_ref.model.use_remove_padding=True
  actor_rollout_ref.actor.optim.lr="$LR"
  actor_rollout_ref.actor.ppo_mini_batch_size="$PPO_MINI_BATCH_SIZE"
  actor_rollout_ref.actor.use_dynamic_bsz=True
  actor_rollout_ref.actor.ppo_max_token_len_per_gpu="$ACTOR_MAX_TOKEN_LEN_PER_GPU"
  actor_rollout_ref.actor.use_kl_loss="$USE_KL_LOSS"
  actor_rollout_ref.actor.kl_loss_coef="$KL_LOSS_COEF"
  actor_rollout_ref.actor.kl_loss_type=low_var_kl
  actor_rollout_ref.actor.entropy_coeff="$ENTROPY_COEFF"
  actor_rollout_ref.rollout.name=vllm
  actor_rollout_ref.rollout.tensor_model_parallel_size="$ROLLOUT_TP"
  actor_rollout_ref.rollout.gpu_memory_utilization="$ROLLOUT_GPU_MEM"
  actor_rollout_ref.rollout.temperature="$TEMPERATURE"
  actor_rollout_ref.rollout.top_p="$TOP_P"
  actor_rollout_ref.rollout.val_kwargs.n="$VAL_N"
  actor_rollout_ref.rollout.val_kwargs.do_sample=True
  actor_rollout_ref.rollout.val_kwargs.temperature="$VAL_TEMPERATURE"
  actor_rollout_ref.rollout.val_kwargs.top_p="$VAL_TOP_P"
  trainer.logger="$LOGGER"
  trainer.project_name="$PROJECT_NAME"
  trainer.experiment_name="$EXP_NAME"
  trainer.default_local_dir="$CKPTS_DIR"
  trainer.n_gpus_per_node="$N_GPUS_PER_NODE"
  trainer.nnodes="$NNODES"
  trainer.total_training_steps="$TOTAL_TRAINING_STEPS"
  trainer.val_before_train=True
  trainer.test_freq="$TEST_FREQ"
  trainer.save_freq="$SAVE_FREQ"
)

# Runs the launch (or the dry run); "$@" of the model script goes last, so command-line overrides win.
launch_aero_recipe() {
  if [ "$DRY_RUN" = "1" ]; then
    PREFLIGHT_FLAGS=()
    if [ "$CHECK_DATA" = "0" ]; then PREFLIGHT_FLAGS=(--skip-data-check); fi
    python3 -m recipe.aero.preflight "${PREFLIGHT_FLAGS[@]}" "${OVERRIDES[@]}" "$@"
  else
    python3 -m recipe.aero.main_aero "${OVERRIDES[@]}" "$@"
  fi
}
