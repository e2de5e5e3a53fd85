"""P1: registers the ``"cpu"`` platform with verl's ``PlatformRegistry`` (selected by ``VERL_PLATFORM=cpu``).

verl 0.9.1 ``verl.plugin.platform.platform_manager.PlatformRegistry`` knows nvidia/huawei/amd only; on a
GPU-less host ``get_platform()`` falls back to nvidia ("cuda", NCCL). This adds a platform whose device is
the CPU and whose collective backend is gloo. ``is_platform_available()`` is False, so auto-detection never
picks it: only an explicit ``VERL_PLATFORM=cpu`` (driver and Ray workers) selects it. The Ray resource stays
``"GPU"`` so verl's resource pools work unchanged with fake GPUs (``ray_init.num_gpus=N``).
"""

from __future__ import annotations

from contextlib import contextmanager

from verl_patches.version import require_pinned_verl

PLATFORM_NAME = "cpu"


def apply() -> None:
    """Registers ``PlatformCPU`` as ``"cpu"``; idempotent."""
    require_pinned_verl("cpu_platform")
    from verl.plugin.platform import PlatformBase, PlatformRegistry

    from verl_patches.cpu.cpu_device import CPU_DEVICE_MODULE

    if PlatformRegistry.get(PLATFORM_NAME) is not None:
        return

    @PlatformRegistry.register(platform=PLATFORM_NAME)
    class PlatformCPU(PlatformBase):
        """Host CPU as verl's accelerator: gloo collectives, no IPC, no profiler, memory stats 0."""

        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def vendor_name(self) -> str:
            return "cpu"

        @property
        def device_module(self):
            return CPU_DEVICE_MODULE

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check=False) -> bool:
            return False  # never auto-detected: GPU hosts keep their platform

        def current_device(self) -> str:
            return "cpu"

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index) -> None:
            return None

        def synchronize(self, device_index=None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            CPU_DEVICE_MODULE.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            CPU_DEVICE_MODULE.manual_seed_all(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0):
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            return "CUDA_VISIBLE_DEVICES"  # Ray sets it for fake GPUs; harmless with CPU torch

        @contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def ray_resource_name(self) -> str:
            return "GPU"

        def ray_noset_envvars(self) -> list[str]:
            return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

        def is_ipc_supported(self) -> bool:
            return False

        def cudart(self):
            return None
