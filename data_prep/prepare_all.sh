#!/usr/bin/env bash
# Downloads and converts every AERO dataset to verl parquet under $DATA_DIR (one file per data_source):
#   train: math_dapo.parquet (DAPO-Math-17k, de-duplicated), math_lighteval.parquet (MATH train)
#   eval:  math500, aime24, amc23, minerva, olympiadbench, gsm8k (.parquet)
# Usage: DATA_DIR=~/data/aero TEMPLATE=boxed bash data_prep/prepare_all.sh
set -xeuo pipefail

DATA_DIR=${DATA_DIR:-$HOME/data/aero}
TEMPLATE=${TEMPLATE:-boxed}
PYTHON=${PYTHON:-python3}

cd "$(dirname "$0")/.."
for dataset in dapo_math math_lighteval math500 aime24 amc23 minerva olympiadbench gsm8k; do
  "$PYTHON" -m "data_prep.${dataset}" \
    --local_dir "$DATA_DIR" \
    --template "$TEMPLATE"
done
ls -l "$DATA_DIR"
