"""The GPU smoke summary on the real JSONL logs of CPU runs of both arms (``recipe.aero.main_aero``, tiny Qwen2).

The runs are the session's shared ``aero_run`` and ``grpo_run`` (``aero_runs.py``): they validate before and after
training with the recipe's own math reward (so ``reward_error`` is logged) and train 4 and 2 steps. Every number of
the summary is compared with the value read directly from the log the run wrote. ``tests/launchers/fixtures/smoke_cpu``
holds a copy of such logs for the fast test of the rendering.
"""

from __future__ import annotations

import pytest
from aero_runs import AERO_RUN_STEPS, completed

from recipe.aero.smoke_summary import checks, main, render, summarize_arm

pytestmark = pytest.mark.e2e

TRAINED_STEPS = {"grpo": [1, 2], "aero": list(range(1, AERO_RUN_STEPS + 1))}


@pytest.fixture(scope="module")
def runs(aero_run, grpo_run):
    return {"grpo": grpo_run, "aero": aero_run}


def test_summary_numbers_are_the_logged_ones(runs):
    for name, result in runs.items():
        arm = summarize_arm(result.run_dir)
        trained = completed(result, TRAINED_STEPS[name])
        steps = result.steps()
        first, *rest = trained
        assert arm.steps == list(trained) and arm.log_file == result.metrics_path
        assert arm.phase_first["gen"] == steps[first]["timing_s/gen"]
        assert arm.phase_rest["update_actor"] == pytest.approx(
            sum(steps[s]["timing_s/update_actor"] for s in rest) / len(rest)
        )
        passes = list(result.series("timing_s/testing").values())  # verl times the passes after step 0 only
        assert passes and arm.validation_s == pytest.approx(sum(passes) / len(passes))
        assert arm.clip_ratio == max(steps[s]["response_length/clip_ratio"] for s in trained)
        assert arm.memory_gb["host"] == max(steps[s]["actor/perf/cpu_memory_used_gb"] for s in trained)
        assert arm.probs_corr == min(steps[s]["training/rollout_actor_probs_pearson_corr"] for s in trained)
        reward_error_keys = [k for k in steps[0] if k.startswith("val-aux/") and "/reward_error/mean@" in k]
        assert reward_error_keys, "the math reward's reward_error is not in the validation metrics"
        validated = [s for s in steps if any(k in steps[s] for k in reward_error_keys)]
        assert validated[0] == 0 and validated[-1] == TRAINED_STEPS[name][-1], validated
        for key in reward_error_keys:
            source = key.removeprefix("val-aux/").split("/reward_error/")[0]
            assert arm.reward_error[source] == max(steps[s][key] for s in validated)


def test_summary_renders_both_arms_and_returns_the_check_status(runs, capsys):
    arms = [summarize_arm(runs[name].run_dir) for name in ("grpo", "aero")]
    text = render(arms)
    assert "grpo" in text and "aero" in text and "clip ratio at max length" in text
    status = main([str(runs["grpo"].run_dir), str(runs["aero"].run_dir)])
    assert capsys.readouterr().out.strip() == text
    assert status == (1 if checks(arms, 0.9) else 0)
