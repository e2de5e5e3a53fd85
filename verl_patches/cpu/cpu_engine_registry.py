"""P4: registers verl's FSDP/FSDP2 training engines for device ``"cpu"``.

verl 0.9.1 ``verl.workers.engine.fsdp.transformer_impl`` registers ``FSDPEngineWithLMHead`` and
``FSDPEngineWithValueHead`` in ``verl.workers.engine.base.EngineRegistry._engines`` for
``device=["cuda", "npu"]`` only, and ``EngineRegistry.get_engine_cls`` looks engines up by the platform's
device name, so on the CPU platform it finds nothing. The FSDP2 engine itself runs fine on a gloo mesh, so
this adds the same classes under the key ``"cpu"``. It runs when verl first imports ``transformer_impl``
(not at ``import verl``; see ``verl_patches._import_hooks``).
"""

from __future__ import annotations

from types import ModuleType

from verl_patches._import_hooks import when_imported
from verl_patches.version import require_pinned_verl

TARGET_MODULE = "verl.workers.engine.fsdp.transformer_impl"
CPU_DEVICE = "cpu"


def _register_cpu_engines(transformer_impl: ModuleType) -> None:
    from verl.workers.engine.base import EngineRegistry

    classes = {
        "language_model": transformer_impl.FSDPEngineWithLMHead,
        "value_model": transformer_impl.FSDPEngineWithValueHead,
    }
    for model_type, engine_cls in classes.items():
        for backend in ("fsdp", "fsdp2"):
            registry = EngineRegistry._engines.setdefault(model_type, {}).setdefault(backend, {})
            registry.setdefault(CPU_DEVICE, engine_cls)


def apply() -> None:
    """Registers the CPU engines as soon as verl imports the FSDP engine module."""
    require_pinned_verl("cpu_engine_registry")
    when_imported(TARGET_MODULE, _register_cpu_engines)
