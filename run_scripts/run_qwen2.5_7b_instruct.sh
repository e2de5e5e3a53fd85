#!/usr/bin/env bash
# Qwen2.5-7B-Instruct: FSDP (ref offloaded), vLLM rollout TP=2, 8 GPUs per node, prompt 1024 + response 4096
# (the _launch_common.sh defaults). ALGO=aero|grpo (or run_qwen2.5_7b_instruct_{aero,grpo}.sh).
set -xeuo pipefail

MODEL_TAG=qwen2.5_7b_instruct
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen2.5-7B-Instruct}
ENGINE=fsdp

source "$(dirname "${BASH_SOURCE[0]}")/_launch_common.sh"
launch_aero_recipe "$@"
