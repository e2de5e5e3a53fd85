"""verl plugin entry point (``verl.plugins: aero_cpu_patches``): the CPU patches, only under ``VERL_PLATFORM=cpu``.

``verl/__init__.py`` imports this module in every process (driver and Ray workers) before anything asks
for the platform. With ``VERL_PLATFORM`` unset or naming another platform, importing it changes nothing,
so GPU machines run stock verl. Errors in entry points are swallowed by verl (DEBUG log), so tests assert
``verl_patches.plugin.cpu_patches_active()`` instead of trusting the import.
"""

from __future__ import annotations

import os

CPU_PLATFORM_ENV = "VERL_PLATFORM"

_applied = False


def cpu_requested() -> bool:
    """True when this process was asked to run verl on the CPU platform."""
    return os.environ.get(CPU_PLATFORM_ENV, "").strip().lower() == "cpu"


def apply_cpu_patches() -> None:
    """Applies P1..P10 in order (platform first, so nothing can resolve the platform too early); idempotent."""
    global _applied
    if _applied:
        return
    from verl_patches import (
        cpu_engine_registry,
        cpu_offload_no_pin,
        cpu_platform,
        gloo_process_group,
        negative_control_skip_weight_sync,
        vllm_abort_request,
        vllm_cpu_version,
        vllm_request_log,
    )

    cpu_platform.apply()
    gloo_process_group.apply()
    cpu_engine_registry.apply()
    cpu_offload_no_pin.apply()
    vllm_cpu_version.apply()
    vllm_abort_request.apply()
    negative_control_skip_weight_sync.apply()
    vllm_request_log.apply()
    _applied = True


def cpu_patches_active() -> bool:
    """True once the CPU patches were applied in this process."""
    return _applied


if cpu_requested():
    apply_cpu_patches()
