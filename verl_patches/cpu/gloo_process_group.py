"""P3: makes verl's mixed backend string usable when the device itself is the CPU.

verl 0.9.1 ``verl.utils.distributed.initialize_global_process_group_ray`` (used by
``verl.workers.engine_workers``, which imports the name directly) and ``initialize_global_process_group``
build ``backend=f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"``. On the CPU platform that is
``"cpu:gloo,cpu:gloo"``, which ``torch.distributed`` rejects (duplicate device). Rather than replacing those
two functions (and the copy bound in ``engine_workers``), this wraps ``torch.distributed.init_process_group``,
which they call as an attribute, and rewrites exactly that string to ``"gloo"``. Every other backend string
passes through untouched.
"""

from __future__ import annotations

import functools

from verl_patches.version import require_pinned_verl

DUPLICATE_CPU_BACKEND = "cpu:gloo,cpu:gloo"


def apply() -> None:
    """Wraps ``torch.distributed.init_process_group`` once; idempotent."""
    require_pinned_verl("gloo_process_group")
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_aero_gloo_patch", False):
        return

    @functools.wraps(original)
    def init_process_group(*args, **kwargs):
        if kwargs.get("backend") == DUPLICATE_CPU_BACKEND:
            kwargs["backend"] = "gloo"
        elif args and args[0] == DUPLICATE_CPU_BACKEND:
            args = ("gloo", *args[1:])
        return original(*args, **kwargs)

    init_process_group._aero_gloo_patch = True
    dist.init_process_group = init_process_group
