#!/usr/bin/env bash
# Downloads and converts every AERO dataset to verl parquet under $DATA_DIR (one file per data_source):
#   train: math_dapo.parquet (DAPO-Math-17k, de-duplicated), math_lighteval.parquet (MATH train)
#   eval:  math500, aime24, amc23, minerva, olympiadbench, gsm8k (.parquet)
# Usage: DATA_DIR=~/data/aero TEMPLATE=boxed bash data_prep/prepare_all.sh
# Offline: INPUT_DIR=dir holding <script>.parquet copies in the HF layout (dapo_math.parquet, math500.parquet, ...).
set -xeuo pipefail

DATA_DIR=${DATA_DIR:-$HOME/data/aero}
TEMPLATE=${TEMPLATE:-boxed}
INPUT_DIR=${INPUT_DIR:-}
PYTHON=${PYTHON:-python3}

cd "$(dirname "$0")/.."
for dataset in dapo_math math_lighteval math500 aime24 amc23 minerva olympiadbench gsm8k; do
  INPUT_ARGS=()
  if [ -n "$INPUT_DIR" ]; then INPUT_ARGS=(--input "$INPUT_DIR/${dataset}.parquet"); fi
  "$PYTHON" -m "data_prep.${dataset}" \
    --local_dir "$DATA_DIR" \
    --template "$TEMPLATE" \
    "${INPUT_ARGS[@]}"
done
ls -l "$DATA_DIR"
