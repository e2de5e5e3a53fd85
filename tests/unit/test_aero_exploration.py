"""Posterior-guided exploration: classes from the store, first-round sizes, and the planner never over budget."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.exploration import KNOWN_FAILING, KNOWN_SOLVED, UNKNOWN, classify, first_round_sizes
from recipe.aero.core.posterior import PosteriorStore
from recipe.aero.core.rescue import next_round_size, next_round_sizes

GUIDED = AeroConfig(guided_exploration=True)


def _store_after(history: dict[str, list[tuple[int, int]]]) -> PosteriorStore:
    store = PosteriorStore.from_config(GUIDED)
    for key, visits in history.items():
        for correct, total in visits:
            store.update([key], np.array([correct]), np.array([total]))
    return store


def test_classes_from_the_store():
    store = _store_after({"easy": [(4, 4), (4, 4)], "hard": [(0, 8), (0, 8)], "mixed": [(2, 4)], "once": [(1, 1)]})
    keys = ["easy", "hard", "mixed", "once", "never_seen"]
    guidance = classify(*store.counts(keys), GUIDED)
    assert guidance.tolist() == [KNOWN_SOLVED, KNOWN_FAILING, UNKNOWN, UNKNOWN, UNKNOWN]
    # Guidance off (the default): every prompt explores as the paper describes.
    assert classify(*store.counts(keys), AeroConfig()).tolist() == [UNKNOWN] * 5


def test_too_little_evidence_stays_unknown_whatever_the_mean():
    """A weak prior lets one visit push the mean past both thresholds; below guidance_min_evidence it is unknown."""
    cfg = AeroConfig(guided_exploration=True, prior_alpha=0.5, prior_beta=0.5, guidance_min_evidence=2.0)
    alpha, beta = np.array([2.0, 0.5, 4.0]), np.array([0.5, 2.0, 0.5])  # evidence 1.5, 1.5, 3.5
    assert classify(alpha, beta, cfg).tolist() == [UNKNOWN, UNKNOWN, KNOWN_SOLVED]
    assert classify(alpha, beta, dataclasses.replace(cfg, guidance_min_evidence=1.0)).tolist() == [
        KNOWN_SOLVED,
        KNOWN_FAILING,
        KNOWN_SOLVED,
    ]


def test_counts_do_not_change_the_store():
    store = _store_after({"easy": [(4, 4)]})
    before = store.state_dict()
    store.counts(["easy", "new"])
    assert store.state_dict() == before and len(store) == 1


def test_known_easy_explores_less_and_known_failing_gets_its_budget_in_one_round():
    sizes = first_round_sizes(np.array([UNKNOWN, KNOWN_SOLVED, KNOWN_FAILING]), GUIDED)
    assert sizes.tolist() == [GUIDED.n_explore, GUIDED.n_explore_known_solved, GUIDED.budget]
    # A known-failing prompt that fails its whole first round is finished: no rescue round is left.
    assert next_round_size(0, 0, GUIDED, first_round=GUIDED.budget) == GUIDED.budget
    assert next_round_size(0, GUIDED.budget, GUIDED, first_round=GUIDED.budget) == 0
    # A known-easy prompt that fails its short first round is rescued as usual.
    assert next_round_size(0, 2, GUIDED, first_round=2) == GUIDED.n_extra


def test_first_round_outside_budget_is_refused():
    with pytest.raises(ValueError, match="first-round"):
        next_round_sizes(np.array([0]), np.array([0]), GUIDED, np.array([GUIDED.budget + 1]))


@given(
    first=st.integers(1, 8),
    outcomes=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_planner_never_exceeds_budget_from_any_first_round(first, outcomes):
    correct = generated = 0
    while (size := next_round_size(correct, generated, GUIDED, first_round=first)) > 0:
        correct += sum(outcomes[generated : generated + size])
        generated += size
    assert generated <= GUIDED.budget
    assert generated >= first
