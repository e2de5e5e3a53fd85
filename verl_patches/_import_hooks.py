"""Run a callback right after a given module is imported, without importing it ourselves.

The patches change symbols in heavy verl modules (the FSDP engine, the vLLM server, the rollout registries). Importing
those modules while ``verl/__init__.py`` loads our plugin is both slow (every Ray worker pays for it) and
unsafe: a module that calls ``get_device_name()`` at import time, before the CPU platform is registered,
fails with "Unknown platform 'cpu'" (cpu_e2e_notes §10). So patches are applied when verl itself first
imports the target module.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType

logger = logging.getLogger(__name__)

_callbacks: dict[str, list[Callable[[ModuleType], None]]] = {}
_lock = threading.Lock()


class _CallbackLoader(importlib.abc.Loader):
    """Delegates to the real loader and runs the registered callbacks once the module has executed."""

    def __init__(self, fullname: str, loader: importlib.abc.Loader):
        self._fullname = fullname
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        with _lock:
            callbacks = _callbacks.pop(self._fullname, [])
        for callback in callbacks:
            callback(module)

    def __getattr__(self, name):  # get_source, get_resource_reader, ... of the real loader
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds the module with the other finders and wraps its loader when a callback is pending."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _callbacks:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _CallbackLoader(fullname, spec.loader)
        return spec


_FINDER = _PostImportFinder()


def when_imported(module_name: str, callback: Callable[[ModuleType], None]) -> None:
    """Calls ``callback(module)`` right after ``module_name`` is first imported (now, if it already is).

    Args:
        module_name: dotted module name, e.g. ``"verl.workers.rollout.base"``.
        callback: receives the executed module; runs once.
    """
    module = sys.modules.get(module_name)
    if module is not None:
        callback(module)
        return
    with _lock:
        _callbacks.setdefault(module_name, []).append(callback)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
