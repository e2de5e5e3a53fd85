"""P5: forward-only (ref) FSDP2 models must not pin memory on a CPU-only torch.

verl 0.9.1 ``verl.workers.engine.fsdp.transformer_impl.FSDPEngine._build_fsdp_module`` forces
``CPUOffloadPolicy(pin_memory=True)`` for forward-only models (the reference policy). ``pin_memory()`` raises
"Cannot access accelerator device" on CPU torch. This replaces the module-global name ``CPUOffloadPolicy``
in ``transformer_impl`` (imported there from ``verl.utils.fsdp_utils``) with a factory that always passes
``pin_memory=False``; nothing else in verl is affected. Applied when verl first imports ``transformer_impl``.
"""

from __future__ import annotations

from types import ModuleType

from verl_patches._import_hooks import when_imported
from verl_patches.version import require_pinned_verl

TARGET_MODULE = "verl.workers.engine.fsdp.transformer_impl"


def _unpinned_offload_policy(transformer_impl: ModuleType) -> None:
    original = transformer_impl.CPUOffloadPolicy
    if original is None or getattr(original, "_aero_no_pin", False):
        return

    def cpu_offload_policy(*args, **kwargs):
        kwargs["pin_memory"] = False
        return original(*args, **kwargs)

    cpu_offload_policy._aero_no_pin = True
    transformer_impl.CPUOffloadPolicy = cpu_offload_policy


def apply() -> None:
    """Replaces ``transformer_impl.CPUOffloadPolicy`` as soon as verl imports that module."""
    require_pinned_verl("cpu_offload_no_pin")
    when_imported(TARGET_MODULE, _unpinned_offload_policy)
