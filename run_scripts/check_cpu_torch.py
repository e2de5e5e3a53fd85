"""Checks that the torch in this interpreter is the CPU build the CPU harness pins (run by run_scripts/_venv.sh).

Run as ``<venv>/bin/python run_scripts/check_cpu_torch.py``; exits 0 when ``torch`` imports, is version 2.13.0 and
is a CPU build (``torch.version.cuda``, ``.hip`` and ``.xpu`` all None: the CPU wheel ``2.13.0+cpu`` reports None
for each, PyPI's Linux x86_64 ``2.13.0`` reports its CUDA version), else exits 1 with a message naming the fix.
Standalone on purpose: it imports nothing of this repository, so it works before (and whatever) the rest installed.
"""

from __future__ import annotations

import os
import sys

PINNED = "2.13.0"
CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"


def problem() -> str | None:
    """What is wrong with the installed torch, or None when it is the pinned CPU build."""
    try:
        import torch
    except Exception as error:  # any import failure (missing, broken, wrong ABI) is reported the same way
        return f"torch does not import ({type(error).__name__}: {error})"
    version = str(getattr(torch, "__version__", "?"))
    builds = {kind: getattr(torch.version, kind, None) for kind in ("cuda", "hip", "xpu")}
    gpu = {kind: value for kind, value in builds.items() if value is not None}
    if gpu:
        kind, value = next(iter(gpu.items()))
        return (
            f"torch {version} is a {kind.upper()} {value} build (torch.version.{kind} = {value!r}), not the CPU build; "
            f"PyPI's torch {PINNED} for Linux x86_64 is the multi-GB CUDA build, the CPU build ({PINNED}+cpu) comes "
            f"from PyTorch's CPU index"
        )
    if version.split("+")[0] != PINNED:
        return f"torch {version} is installed, the CPU harness pins {PINNED}+cpu (constraints-cpu.txt)"
    return None


def main() -> int:
    found = problem()
    if found is None:
        return 0
    index = os.environ.get("AERO_TORCH_INDEX_URL") or CPU_INDEX_URL
    venv = sys.prefix
    print(
        f"[aero] ERROR: {found}.\n"
        f"[aero] Fix: {venv}/bin/python -m pip install --force-reinstall --no-deps torch=={PINNED}+cpu "
        f"--index-url {index}\n"
        f"[aero]   (or delete {venv} and rerun; where {CPU_INDEX_URL} cannot be reached, set AERO_TORCH_INDEX_URL "
        f"to a mirror of it, or make a {PINNED}+cpu wheel visible to pip through PIP_FIND_LINKS; README, "
        f'"CPU install")',
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
