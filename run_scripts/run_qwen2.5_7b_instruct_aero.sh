#!/usr/bin/env bash
# AERO (n_explore 4, rescue up to budget 8) on Qwen2.5-7B-Instruct; every setting is in run_qwen2.5_7b_instruct.sh and _launch_common.sh.
# Usage: [DRY_RUN=1] [DATA_DIR=...] [MODEL_PATH=...] bash run_scripts/run_qwen2.5_7b_instruct_aero.sh [hydra overrides...]
set -xeuo pipefail
ALGO=aero exec bash "$(dirname "$0")/run_qwen2.5_7b_instruct.sh" "$@"
