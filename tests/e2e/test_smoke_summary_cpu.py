"""The GPU smoke summary on the real JSONL logs of a CPU run of both arms (``recipe.aero.main_aero``, tiny Qwen2).

The run uses the recipe's own math reward, validates before and after training (so ``reward_error`` is logged) and
trains two steps per arm. Every number of the summary is compared with the value read directly from the log the
run wrote. ``tests/launchers/fixtures/smoke_cpu`` holds a copy of such logs for the fast test of the rendering.
"""

from __future__ import annotations

import pytest

from aero_cpu.launcher import RunResult, run_verl_cpu
from aero_cpu.overrides import tiny_run_overrides
from recipe.aero.smoke_summary import checks, main, render, summarize_arm

pytestmark = pytest.mark.e2e

STEPS = 2


def run_arm(assets, tmp_path_factory, estimator: str) -> RunResult:
    overrides = [o for o in tiny_run_overrides(assets, rollout_n=4) if "custom_reward_function.path" not in o]
    overrides += [
        "reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward",
        f"algorithm.adv_estimator={estimator}",
        "algorithm.aero.n_explore=2",
        "algorithm.aero.budget=4",
        f"trainer.total_training_steps={STEPS}",
        "trainer.val_before_train=True",
        f"trainer.test_freq={STEPS}",
        "actor_rollout_ref.rollout.val_kwargs.n=2",
        "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
    ]
    run_dir = tmp_path_factory.mktemp(estimator)
    result = run_verl_cpu("recipe.aero.main_aero", overrides, run_dir, timeout=300)
    assert not result.timed_out and result.returncode == 0, result.log_tail()
    return result


@pytest.fixture(scope="module")
def runs(tiny_assets, tmp_path_factory) -> dict[str, RunResult]:
    return {estimator: run_arm(tiny_assets, tmp_path_factory, estimator) for estimator in ("grpo", "aero")}


def test_summary_numbers_are_the_logged_ones(runs):
    for result in runs.values():
        arm = summarize_arm(result.run_dir)
        steps = result.steps()
        assert arm.steps == [1, 2] and arm.log_file == result.metrics_path
        assert arm.phase_first["gen"] == steps[1]["timing_s/gen"]
        assert arm.phase_rest["update_actor"] == steps[2]["timing_s/update_actor"]
        passes = list(result.series("timing_s/testing").values())  # verl times the passes after step 0 only
        assert passes and arm.validation_s == pytest.approx(sum(passes) / len(passes))
        assert arm.clip_ratio == max(steps[s]["response_length/clip_ratio"] for s in (1, 2))
        assert arm.memory_gb["host"] == max(steps[s]["actor/perf/cpu_memory_used_gb"] for s in (1, 2))
        assert arm.probs_corr == min(steps[s]["training/rollout_actor_probs_pearson_corr"] for s in (1, 2))
        reward_error_keys = [k for k in steps[0] if k.startswith("val-aux/") and "/reward_error/mean@" in k]
        assert reward_error_keys, "the math reward's reward_error is not in the validation metrics"
        for key in reward_error_keys:
            source = key.removeprefix("val-aux/").split("/reward_error/")[0]
            assert arm.reward_error[source] == max(steps[s][key] for s in (0, 2))


def test_summary_renders_both_arms_and_returns_the_check_status(runs, capsys):
    arms = [summarize_arm(runs[name].run_dir) for name in ("grpo", "aero")]
    text = render(arms)
    assert "grpo" in text and "aero" in text and "clip ratio at max length" in text
    status = main([str(runs["grpo"].run_dir), str(runs["aero"].run_dir)])
    assert capsys.readouterr().out.strip() == text
    assert status == (1 if checks(arms, 0.9) else 0)
