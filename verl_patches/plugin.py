"""verl plugin entry point (``verl.plugins: aero_cpu_patches``): the CPU patches and the race's abort patch, each only
when its process asks for it.

``verl/__init__.py`` imports this module in every process (driver and Ray workers) before anything asks for the
platform. The CPU patches (:mod:`verl_patches.cpu`) apply only under ``VERL_PLATFORM=cpu``; P10
(:mod:`verl_patches.any_platform.vllm_abort_request`) applies on any platform, only with ``AERO_VLLM_ABORT_BY_ID=1``,
which the AERO main sets for Ray's workers when ``algorithm.aero.rescue_race`` is on. With neither, importing this
module changes nothing, so GPU machines run stock verl. Errors in entry points are swallowed by verl (DEBUG log), so
tests assert ``cpu_patches_active()`` and the patched symbols instead of trusting the import.
"""

from __future__ import annotations

import os

from verl_patches.any_platform.vllm_abort_request import ABORT_BY_ID_ENV

CPU_PLATFORM_ENV = "VERL_PLATFORM"

_applied = False


def cpu_requested() -> bool:
    """True when this process was asked to run verl on the CPU platform."""
    return os.environ.get(CPU_PLATFORM_ENV, "").strip().lower() == "cpu"


def abort_by_id_requested() -> bool:
    """True when this process's vLLM servers must abort single requests (the rescue race is on)."""
    return os.environ.get(ABORT_BY_ID_ENV) == "1"


def apply_cpu_patches() -> None:
    """Applies the CPU patches in order (platform first, so nothing can resolve the platform too early); idempotent."""
    global _applied
    if _applied:
        return
    from verl_patches.cpu import (
        cpu_engine_registry,
        cpu_offload_no_pin,
        cpu_platform,
        gloo_process_group,
        negative_control_skip_weight_sync,
        vllm_cpu_version,
        vllm_request_log,
    )

    cpu_platform.apply()
    gloo_process_group.apply()
    cpu_engine_registry.apply()
    cpu_offload_no_pin.apply()
    vllm_cpu_version.apply()
    negative_control_skip_weight_sync.apply()
    vllm_request_log.apply()
    _applied = True


def cpu_patches_active() -> bool:
    """True once the CPU patches were applied in this process."""
    return _applied


if cpu_requested():
    apply_cpu_patches()
if abort_by_id_requested():
    from verl_patches.any_platform import vllm_abort_request

    vllm_abort_request.apply()
