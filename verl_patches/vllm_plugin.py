"""vLLM plugin entry point (``vllm.general_plugins: aero_cpu_vllm_patches``): the vLLM-side CPU patches.

vLLM loads its general plugins in every process it starts (the API server inside verl's ``vLLMHttpServer`` actor,
the engine core and each worker, all spawned) before it builds a model. Those processes need not import verl
before loading weights, so patches to vLLM's own classes are applied from here, and only when
``VERL_PLATFORM=cpu`` (which the spawned processes inherit from the Ray actor's environment). GPU machines and
plain vLLM users are unaffected.
"""

from __future__ import annotations

import os


def register() -> None:
    """Applies the vLLM patches under ``VERL_PLATFORM=cpu``; vLLM calls this once per process.

    Reads the variable itself rather than importing :mod:`verl_patches.plugin`, whose import applies the verl
    patches (and so imports verl) in processes that may not need it.
    """
    if os.environ.get("VERL_PLATFORM", "").strip().lower() != "cpu":
        return
    from verl_patches.cpu import vllm_cpu_linear_keeps_weight

    vllm_cpu_linear_keeps_weight.apply()
