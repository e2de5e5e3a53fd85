#!/usr/bin/env bash
# matched GRPO baseline (n = 8) on Qwen2.5-7B-Instruct; every setting is in run_qwen2.5_7b_instruct.sh and _launch_common.sh.
# Usage: [DRY_RUN=1] [DATA_DIR=...] [MODEL_PATH=...] bash run_scripts/run_qwen2.5_7b_instruct_grpo.sh [hydra overrides...]
set -xeuo pipefail
ALGO=grpo exec bash "$(dirname "$0")/run_qwen2.5_7b_instruct.sh" "$@"
