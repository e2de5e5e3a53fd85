"""P2: a ``torch.cuda`` stand-in returned by ``get_torch_device()`` on the CPU platform.

verl 0.9.1 calls ``verl.utils.device.get_torch_device()`` (i.e. ``PlatformBase.device_module``) at 80+ sites
and then uses ``torch.cuda``'s API on the result: memory statistics, rng state, ``set_device``,
``synchronize``, ``get_device_name``. ``torch.cpu`` lacks most of these, so the CPU platform returns this
shim instead. Methods whose return values verl uses are explicit (e.g. ``get_device_name()`` must be a
string because ``verl/utils/flops_counter.py:get_device_flops`` does ``key in device_name``); anything else
falls back to ``torch.cpu`` and then to a logged no-op returning 0.
"""

from __future__ import annotations

import logging
import os

import torch

logger = logging.getLogger(__name__)


class CPUDeviceModule:
    """The subset of ``torch.cuda`` that verl calls, implemented for the host CPU."""

    def is_available(self) -> bool:
        return True

    def current_device(self) -> str:
        # A string: verl does ``tensor.to(get_device_id())`` and an int 0 would mean ``cuda:0``.
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device=None) -> None:
        return None

    def synchronize(self, device=None) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_name(self, device=None) -> str:
        return "CPU"

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def get_rng_state(self, device=None) -> torch.Tensor:
        return torch.get_rng_state()

    def set_rng_state(self, state: torch.Tensor, device=None) -> None:
        torch.set_rng_state(state)

    def memory_allocated(self, device=None) -> int:
        return 0

    def memory_reserved(self, device=None) -> int:
        return 0

    def max_memory_allocated(self, device=None) -> int:
        return 0

    def max_memory_reserved(self, device=None) -> int:
        return 0

    def reset_peak_memory_stats(self, device=None) -> None:
        return None

    def mem_get_info(self, device=None) -> tuple[int, int]:
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page

    def __getattr__(self, name):
        if hasattr(torch.cpu, name):
            return getattr(torch.cpu, name)

        def _noop(*args, **kwargs):
            logger.debug("CPU device shim: no-op for torch.cuda.%s", name)
            return 0

        return _noop


CPU_DEVICE_MODULE = CPUDeviceModule()
