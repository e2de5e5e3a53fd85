"""The product package imports nothing from the CPU harness, the dataset scripts or the tests.

A GPU user installs ``recipe.aero`` and runs it; the CPU harness (``aero_cpu``), the dataset converters
(``data_prep``, which import the recipe, never the other way round) and the test suite (with its extras such as
``pytest`` and ``hypothesis``) must not be needed to import any of its modules. Checked in a fresh interpreter,
because this test process has all of them imported already.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("aero_cpu", "data_prep", "tests", "pytest", "hypothesis")

_PROBE = """
import importlib, json, pkgutil, sys
import recipe.aero
targets = {targets!r}
if targets == ["*"]:
    import recipe.aero as package
    targets = [info.name for info in pkgutil.walk_packages(package.__path__, "recipe.aero.")]
for name in targets:
    importlib.import_module(name)
print(json.dumps({{"imported": targets, "modules": sorted(sys.modules)}}))
"""


def _modules_after_importing(targets: list[str]) -> tuple[list[str], list[str]]:
    env = {key: value for key, value in os.environ.items() if key != "VERL_PLATFORM"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(targets=targets)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    return payload["imported"], payload["modules"]


def _harness_modules(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in FORBIDDEN]


def test_import_recipe_aero_imports_no_harness_module():
    _, modules = _modules_after_importing([])
    assert "recipe.aero" in modules
    assert _harness_modules(modules) == []


def test_every_product_module_imports_no_harness_module():
    """Every module under recipe.aero, the entry point and the trainer included (importing them starts no Ray)."""
    imported, modules = _modules_after_importing(["*"])
    assert {"recipe.aero.main_aero", "recipe.aero.trainer", "recipe.aero.agent_loop"} <= set(imported)
    assert _harness_modules(modules) == []


def test_the_probe_sees_a_harness_import():
    """Negative control: importing a harness module through the same probe is reported."""
    _, modules = _modules_after_importing(["aero_cpu.overrides"])
    assert "aero_cpu.overrides" in _harness_modules(modules)
