"""``aero`` reaches verl's registry through the installed ``verl.plugins`` entry point, stays import-light,
and a missing registration is a clear start-up error."""

import os
import subprocess
import sys

import pytest
from verl.trainer.ppo import core_algos

from recipe.aero import register
from recipe.aero.estimator import compute_aero_advantage

HEAVY_MODULES = ("verl.trainer.ppo.v1", "verl.workers.engine", "verl.trainer.ppo.ray_trainer")


def _run(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_plain_import_verl_finds_aero_via_the_entry_point():
    code = (
        "import verl\n"
        "from verl.trainer.ppo.core_algos import get_adv_estimator_fn\n"
        "fn = get_adv_estimator_fn('aero')\n"
        "print(fn.__module__ + '.' + fn.__name__)\n"
    )
    assert _run(code) == "recipe.aero.estimator.compute_aero_advantage"


def test_without_plugins_aero_is_absent():
    """Counter-check: the previous test passes because of the entry point, not by accident."""
    code = (
        "import verl\n"
        "from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY\n"
        "print('aero' in ADV_ESTIMATOR_REGISTRY)\n"
    )
    assert _run(code, VERL_USE_EXTERNAL_PLUGINS="none") == "False"


def test_register_module_imports_no_verl_module_beyond_core_algos():
    """cpu_e2e_notes section 10: a plugin that imports the v1 trainer or the engines breaks fresh Ray workers."""
    code = (
        "import sys\n"
        "import verl.trainer.ppo.core_algos\n"
        "before = set(sys.modules)\n"
        "import recipe.aero.register\n"
        "added = sorted(m for m in set(sys.modules) - before if m.startswith('verl'))\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY_MODULES!r}))\n"
        "print(added + heavy)\n"
    )
    assert _run(code, VERL_USE_EXTERNAL_PLUGINS="none") == "[]"


def test_assert_registered(monkeypatch):
    register.assert_registered()
    assert core_algos.get_adv_estimator_fn("aero") is compute_aero_advantage
    monkeypatch.delitem(core_algos.ADV_ESTIMATOR_REGISTRY, "aero")
    with pytest.raises(RuntimeError, match="'aero' is not registered with verl"):
        register.assert_registered()
