"""The generation split: exploration phase, rescue tail and the rounds on the critical path."""

import numpy as np

from recipe.aero.core.timing import generation_timing


def test_rescue_tail_and_critical_path():
    # Prompt 0: one round, 0-3 s. Prompt 1: explored 0-2 s, rescued 2-5 s and 5-9 s (3 rounds, finishes last).
    metrics = generation_timing(
        group_index=np.array([0, 0, 1, 1, 1, 1]),
        round_index=np.array([0, 0, 0, 0, 1, 2]),
        started_at=np.array([0.0, 0.5, 0.0, 0.2, 2.0, 5.0]),
        finished_at=np.array([3.0, 2.5, 2.0, 1.5, 5.0, 9.0]),
    )
    assert metrics == {
        "aero/timing/explore_phase_s": 3.0,
        "aero/timing/rescue_tail_s": 6.0,
        "aero/timing/generation_span_s": 9.0,
        "aero/timing/critical_path_rounds": 3.0,
        "aero/timing/max_rounds": 3.0,
    }


def test_grpo_step_has_no_rescue_tail():
    metrics = generation_timing(np.array([0, 1]), np.array([0, 0]), np.array([1.0, 1.5]), np.array([4.0, 3.0]))
    assert metrics["aero/timing/rescue_tail_s"] == 0.0 and metrics["aero/timing/explore_phase_s"] == 3.0
    assert metrics["aero/timing/critical_path_rounds"] == 1.0


def test_rescue_finishing_before_exploration_adds_no_tail():
    metrics = generation_timing(np.array([0, 1]), np.array([0, 1]), np.array([0.0, 0.0]), np.array([5.0, 2.0]))
    assert metrics["aero/timing/rescue_tail_s"] == 0.0 and metrics["aero/timing/critical_path_rounds"] == 1.0


def test_empty_step():
    assert set(generation_timing(np.array([]), np.array([]), np.array([]), np.array([])).values()) == {0.0}
