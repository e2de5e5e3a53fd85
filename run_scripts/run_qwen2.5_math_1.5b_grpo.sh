#!/usr/bin/env bash
# matched GRPO baseline (n = 8) on Qwen2.5-Math-1.5B; every setting is in run_qwen2.5_math_1.5b.sh and _launch_common.sh.
# Usage: [DRY_RUN=1] [DATA_DIR=...] [MODEL_PATH=...] bash run_scripts/run_qwen2.5_math_1.5b_grpo.sh [hydra overrides...]
set -xeuo pipefail
ALGO=grpo exec bash "$(dirname "$0")/run_qwen2.5_math_1.5b.sh" "$@"
