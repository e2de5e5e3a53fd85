#!/usr/bin/env bash
# Qwen2.5-7B-Instruct, FSDP (ref offloaded), vLLM rollout TP=2, 8 GPUs per node; prompt 1024 + response 4096.
# ALGO=aero|grpo (or run_qwen2.5_7b_instruct_{aero,grpo}.sh); shared settings in _launch_common.sh.
set -xeuo pipefail

MODEL_TAG=qwen2.5_7b_instruct
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-7B-Instruct}
ENGINE=fsdp
N_GPUS_PER_NODE=${N_GPUS_PER_NODE:-8}
MAX_PROMPT_LENGTH=${MAX_PROMPT_LENGTH:-1024}
MAX_RESPONSE_LENGTH=${MAX_RESPONSE_LENGTH:-4096}
ACTOR_MAX_TOKEN_LEN_PER_GPU=${ACTOR_MAX_TOKEN_LEN_PER_GPU:-20480}
ROLLOUT_TP=${ROLLOUT_TP:-2}
ROLLOUT_GPU_MEM=${ROLLOUT_GPU_MEM:-0.5}

source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
launch_aero_recipe "$@"
