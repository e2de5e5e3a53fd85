"""Stratification and the iterative-rescue planner, including simulated whole rescue loops."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.rescue import next_round_size, next_round_sizes
from recipe.aero.core.strata import Stratum, rollout_success, stratify

FAST = settings(max_examples=60, deadline=None)


def test_stratify_default_boundaries():
    cfg = AeroConfig()
    strata = stratify(np.array([0, 1, 2, 4, 3]), np.array([4, 4, 4, 4, 8]), cfg)
    assert strata.tolist() == [Stratum.RESCUE, Stratum.LOW, Stratum.HIGH, Stratum.HIGH, Stratum.LOW]


def test_stratify_custom_thresholds():
    cfg = AeroConfig(rescue_threshold=0.25, low_success_threshold=0.75)
    strata = stratify(np.array([1, 2, 3, 4]), np.array([4, 4, 4, 4]), cfg)
    assert strata.tolist() == [Stratum.RESCUE, Stratum.LOW, Stratum.HIGH, Stratum.HIGH]


@pytest.mark.parametrize(("correct", "total"), [([5], [4]), ([-1], [4]), ([0], [0])])
def test_stratify_refuses_impossible_counts(correct, total):
    with pytest.raises(ValueError, match="impossible rollout counts at position 0"):
        stratify(np.array(correct), np.array(total), AeroConfig())


def test_success():
    cfg = AeroConfig()
    assert rollout_success(np.array([-1.0, 1.0, 0.0]), cfg).tolist() == [False, True, False]
    assert rollout_success(np.array([0.3]), cfg, acc=np.array([False])).tolist() == [False]


def test_planner_default_schedule():
    cfg = AeroConfig()  # explore 4, extra 2, budget 8
    assert next_round_size(0, 0, cfg) == 4
    assert next_round_size(0, 4, cfg) == 2
    assert next_round_size(1, 4, cfg) == 0  # stop at the first success
    assert next_round_size(0, 6, cfg) == 2
    assert next_round_size(0, 8, cfg) == 0  # budget spent
    assert next_round_size(1, 6, cfg) == 0


def test_planner_truncates_last_round_to_budget():
    cfg = AeroConfig(n_explore=3, n_extra=4, budget=8)
    assert next_round_size(0, 3, cfg) == 4
    assert next_round_size(0, 7, cfg) == 1


def test_planner_race_rescues_with_the_remaining_budget_in_one_round():
    cfg = AeroConfig(rescue_race=True)  # explore 4, budget 8
    assert next_round_size(0, 0, cfg) == 4
    assert next_round_size(0, 4, cfg) == 4  # the whole remaining budget at once, not n_extra = 2
    assert next_round_size(1, 4, cfg) == 0
    assert next_round_size(0, 8, cfg) == 0  # the race found nothing: budget spent
    assert next_round_size(0, 2, cfg, first_round=2) == 6  # after a guided first round of 2


def test_planner_refuses_over_budget_and_bad_counts():
    with pytest.raises(ValueError, match="more than algorithm.aero.budget=8"):
        next_round_size(0, 9, AeroConfig())
    with pytest.raises(ValueError, match="impossible rollout counts"):
        next_round_size(3, 2, AeroConfig())


@st.composite
def planner_cases(draw):
    budget = draw(st.integers(1, 20))
    threshold = draw(st.sampled_from([0.0, 0.1, 0.25]))
    cfg = AeroConfig(
        n_explore=draw(st.integers(1, budget)),
        budget=budget,
        n_extra=draw(st.integers(1, 6)),
        rescue_threshold=threshold,
        low_success_threshold=0.5,
        rescue_race=threshold == 0.0 and draw(st.booleans()),
    )
    success_rates = draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
    return cfg, np.array(success_rates), draw(st.integers(0, 2**31))


@FAST
@given(planner_cases())
def test_simulated_rescue_loops_respect_budget_and_stop_rule(case):
    cfg, success_rates, seed = case
    rng = np.random.default_rng(seed)
    generated = np.zeros(len(success_rates), dtype=np.int64)
    correct = np.zeros_like(generated)
    rounds = 0
    while True:
        sizes = next_round_sizes(correct, generated, cfg)
        if not sizes.any():
            break
        rounds += 1
        rescue_round = (sizes > 0) & (generated > 0)
        assert (correct[rescue_round] / generated[rescue_round] <= cfg.rescue_threshold).all()
        assert rounds <= cfg.budget  # every round adds >= 1 rollout, so the loop must end
        correct += rng.binomial(sizes, success_rates)
        generated += sizes
        assert (generated <= cfg.budget).all()
    assert (generated >= cfg.n_explore).all()
    rate = correct / generated
    # A prompt stops only once rescued or when the budget is spent.
    assert ((rate > cfg.rescue_threshold) | (generated == cfg.budget)).all()
    if cfg.rescue_threshold == 0.0:
        # Stop at the first success: a prompt with a correct rollout never gets another round, so a
        # rescued prompt holds at most one round's worth of correct rollouts.
        rescued = generated > cfg.n_explore
        assert (correct[rescued] <= (cfg.budget - cfg.n_explore if cfg.rescue_race else cfg.n_extra)).all()
    if cfg.rescue_race:
        assert rounds <= 2  # exploration, then at most one race round
