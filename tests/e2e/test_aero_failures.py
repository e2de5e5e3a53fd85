"""A run that cannot train stops early, non-zero, and names the cause (DESIGN.md §2.10).

Two real ``main_aero`` runs of AERO on the tiny model: a reward that raises on every call (every prompt fails and
writes no rollout: the run stops at step 1 with the reward's own exception), and a reward that returns NaN for every
rollout (each step is emptied by failures: the run stops after ``trainer.v1.aero.max_failed_steps`` such steps,
naming the NaN share). Neither may print verl's advice to enable ``sync_refill_failed_groups``.
"""

from __future__ import annotations

import pytest
from aero_runs import FIXTURES, MODULE, RUN_TIMEOUT_S, overrides

from aero_cpu.launcher import run_verl_cpu

pytestmark = pytest.mark.e2e


def _run(tiny_assets, tmp_path, reward: str, *extra: str):
    chosen = [
        *overrides(tiny_assets, "aero", 6, tmp_path, *extra),
        f"reward.custom_reward_function.path={FIXTURES / reward}",
    ]
    return run_verl_cpu(MODULE, chosen, tmp_path, RUN_TIMEOUT_S)


def test_a_reward_that_always_raises_stops_the_run_at_step_1_naming_the_exception(tiny_assets, tmp_path):
    result = _run(tiny_assets, tmp_path, "raising_reward.py")
    log = result.log_path.read_text()
    assert not result.timed_out and result.returncode != 0, result.log_tail()
    assert "TrainingStopped" in log and "step 1: every one of the 6 prompts failed" in log, result.log_tail()
    assert "ValueError: reward exploded on prompt" in log
    assert "sync_refill_failed_groups to replace failed groups" not in log
    assert not any(step > 0 and "actor/pg_loss" in m for step, m in result.steps().items())


def test_a_reward_that_always_returns_nan_stops_after_max_failed_steps(tiny_assets, tmp_path):
    result = _run(tiny_assets, tmp_path, "nan_reward.py", "trainer.v1.aero.max_failed_steps=2")
    log = result.log_path.read_text()
    assert not result.timed_out and result.returncode != 0, result.log_tail()
    assert "2 training steps in a row had nothing to train because of failures" in log, result.log_tail()
    assert "scored NaN or inf" in log and "(100%)" in log
    steps = {step: m for step, m in result.steps().items() if step > 0 and "aero/gen/rollouts" in m}
    assert sorted(steps) == [1], steps  # step 1 skipped and logged; step 2 stopped the run before logging
    assert steps[1]["aero/skipped_update"] == 1 and steps[1]["aero/failed/nonfinite_scores"] > 0
