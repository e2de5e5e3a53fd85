"""Fixtures for the CPU end-to-end tests: the tiny assets, built once per session into the repo cache."""

from __future__ import annotations

import pytest

from aero_cpu.tiny_assets import TinyAssetPaths, build_all


@pytest.fixture(scope="session")
def tiny_assets() -> TinyAssetPaths:
    """Tiny tokenizer/Qwen2/parquet/reward in ``.cache/tiny_assets`` (rebuilt only when the spec changes)."""
    return build_all()
