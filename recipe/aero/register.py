"""Registers ``aero`` with verl's advantage-estimator registry; loaded by the ``verl.plugins`` entry point.

verl imports every ``verl.plugins`` entry point inside ``import verl`` (driver and every Ray worker) and
swallows import errors at DEBUG level, so this module stays light: it imports ``core_algos`` (the registry)
and the torch/numpy-only estimator, never ``verl.trainer.ppo.v1`` or ``verl.workers.engine``, which would
resolve the device platform before the CPU platform plugin has registered it. The recipe calls
:func:`assert_registered` at start-up so a failed plugin load is an error, not a silent ``grpo`` fallback.
"""

from __future__ import annotations

from verl.trainer.ppo import core_algos

from recipe.aero.estimator import compute_aero_advantage

AERO_ESTIMATOR_NAME = "aero"

core_algos.register_adv_est(AERO_ESTIMATOR_NAME)(compute_aero_advantage)


def assert_registered() -> None:
    """Raises RuntimeError unless verl's registry maps ``aero`` to this recipe's estimator."""
    registered = core_algos.ADV_ESTIMATOR_REGISTRY.get(AERO_ESTIMATOR_NAME)
    if registered is not compute_aero_advantage:
        raise RuntimeError(
            f"advantage estimator {AERO_ESTIMATOR_NAME!r} is not registered with verl (found {registered!r}). "
            "The verl.plugins entry point 'aero_recipe = recipe.aero.register' did not load: check that the recipe "
            "is pip-installed in this environment, that VERL_USE_EXTERNAL_PLUGINS is not 'none' or excludes "
            "'aero_recipe', "
            "and run `python -c 'import recipe.aero.register'` to see the import error verl swallowed."
        )
