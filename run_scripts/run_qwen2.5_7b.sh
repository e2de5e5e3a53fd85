#!/usr/bin/env bash
# Qwen2.5-7B (base): Megatron actor/ref TP=4 (dp 2 on one node), vLLM rollout TP=2, 8 GPUs per node, NNODES nodes,
# prompt 1024 + response 4096 (the _launch_common.sh defaults). ALGO=aero|grpo (or run_qwen2.5_7b_{aero,grpo}.sh).
set -xeuo pipefail

MODEL_TAG=qwen2.5_7b
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-7B}
ENGINE=megatron
ACTOR_TP=${ACTOR_TP:-4}
ACTOR_PP=${ACTOR_PP:-1}

source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
launch_aero_recipe "$@"
