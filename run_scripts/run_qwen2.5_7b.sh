#!/usr/bin/env bash
# Qwen2.5-7B (base), Megatron actor/ref TP=4 (dp 2 on one node), vLLM rollout TP=2, 8 GPUs per node, NNODES nodes;
# prompt 1024 + response 4096. ALGO=aero|grpo (or run_qwen2.5_7b_{aero,grpo}.sh); shared settings in _launch_common.sh.
set -xeuo pipefail

MODEL_TAG=qwen2.5_7b
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-7B}
ENGINE=megatron
ACTOR_TP=${ACTOR_TP:-4}
ACTOR_PP=${ACTOR_PP:-1}
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-1024}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-4096}
ACTOR_MAX_TOKEN_LEN_PER_GPU=${ACTOR_MAX_TOKEN_LEN_PER_GPU:-20480}
ROLLOUT_TP=${ROLLOUT_TP:-2}
ROLLOUT_GPU_MEM=${ROLLOUT_GPU_MEM:-0.5}

source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
launch_aero_recipe "$@"
