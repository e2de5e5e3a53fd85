#!/usr/bin/env bash
# Qwen2.5-Math-1.5B, FSDP, 4 GPUs, 4k context (prompt 1024 + response 3072 = the model's 4096 positions).
# ALGO=aero|grpo (or use run_qwen2.5_math_1.5b_{aero,grpo}.sh); shared settings in _launch_common.sh.
set -xeuo pipefail

MODEL_TAG=qwen2.5_math_1.5b
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-Math-1.5B}
ENGINE=fsdp
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-4}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-3072}
ACTOR_MAX_TOKEN_LEN_PER_GPU=${ACTOR_MAX_TOKEN_LEN_PER_GPU:-24576}
ROLLOUT_TP=${ROLLOUT_TP:-1}
ROLLOUT_GPU_MEM=${ROLLOUT_GPU_MEM:-0.6}

source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
launch_aero_recipe "$@"
