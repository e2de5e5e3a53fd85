"""Beta posterior store: spec 2.6 worked examples, forgetting, state round trip, summary."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.aero.core.posterior import PosteriorStore, posterior_advantage, step_posterior_mean

FAST = settings(max_examples=60, deadline=None)


def test_spec_worked_examples_with_decay_zero():
    store = PosteriorStore(1.0, 1.0, decay=0.0)
    p = store.update(["all_correct", "failed_rescue"], np.array([8, 0]), np.array([8, 16]))
    assert p == pytest.approx([0.9, 1 / 18])
    advantages = posterior_advantage(np.array([1, 0]), p, 1e-6)
    assert advantages[0] == pytest.approx(1 / 3, abs=1e-5)
    assert advantages[1] == pytest.approx(-(1 / 18) / math.sqrt((1 / 18) * (17 / 18)), abs=1e-5)
    assert round(float(advantages[1]), 2) == -0.24
    assert step_posterior_mean(np.array([8, 0]), np.array([8, 16]), 1.0, 1.0) == pytest.approx(p)


def test_decay_forgets_towards_the_prior():
    store = PosteriorStore(1.0, 2.0, decay=0.5)
    store.update(["q"], [4], [4])  # alpha 5, beta 2
    p = store.update(["q"], [0], [2])  # alpha 1 + 0.5*4 = 3, beta 2 + 0 + 2 = 4
    assert p[0] == pytest.approx(3 / 7)
    never_forget = PosteriorStore(1.0, 1.0, decay=1.0)
    never_forget.update(["q"], [4], [4])
    assert never_forget.update(["q"], [0], [4])[0] == pytest.approx(5 / 10)


def test_a_new_key_starts_from_the_prior_and_other_keys_are_unchanged():
    store = PosteriorStore(2.0, 6.0, decay=0.5)
    assert store.update(["a"], [3], [4])[0] == pytest.approx(5 / 12)  # alpha 2 + 3, beta 6 + 1
    assert store.update(["zzz"], [0], [0])[0] == pytest.approx(0.25)  # no counts yet: the prior mean
    state = store.state_dict()
    assert len(store) == 2 and state["keys"] == ["a", "zzz"]
    assert (state["alpha"], state["beta"]) == ([5.0, 2.0], [7.0, 6.0])


def test_duplicate_keys_and_bad_state_are_refused():
    store = PosteriorStore(1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="'a' appears more than once"):
        store.update(["a", "a"], [1, 1], [2, 2])
    with pytest.raises(ValueError, match="version"):
        store.load_state_dict({"version": 99})
    with pytest.raises(ValueError, match="priors must be > 0"):
        PosteriorStore(0.0, 1.0, 0.5)


def test_summary():
    store = PosteriorStore(1.0, 1.0, 0.0)
    assert store.summary()["num_prompts"] == 0
    store.update(["a", "b"], [8, 0], [8, 8])
    assert store.summary() == {"num_prompts": 2, "mean_p": pytest.approx(0.5)}


@FAST
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 30), st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=10),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from([0.0, 0.3, 0.5, 1.0]),
)
def test_state_dict_round_trips_exactly(steps, decay):
    store = PosteriorStore(1.0, 1.5, decay)
    for step in steps:
        unique = {f"ds/{key}": (min(a, b), max(a, b)) for key, a, b in step}
        keys = list(unique)
        store.update(keys, np.array([c for c, _ in unique.values()]), np.array([n for _, n in unique.values()]))
    state = json.loads(json.dumps(store.state_dict()))  # plain python types only
    restored = PosteriorStore(1.0, 1.5, decay)
    restored.load_state_dict(state)
    assert restored.state_dict() == store.state_dict()
    keys = state["keys"]
    # Both continue identically after the resume.
    assert np.array_equal(
        restored.update(keys, np.zeros(len(keys)), np.ones(len(keys))),
        store.update(keys, np.zeros(len(keys)), np.ones(len(keys))),
    )
