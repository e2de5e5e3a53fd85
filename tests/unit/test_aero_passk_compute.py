"""Unbiased pass@k against exact binomials, and the FLOPs estimates."""

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.aero.core.compute import step_flops, update_flops
from recipe.aero.core.passk import avg_at_k, pass_at_k


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 64), st.integers(0, 64)), min_size=1, max_size=20), st.integers(1, 64))
def test_pass_at_k_matches_exact_binomials(problems, k):
    n = np.array([max(total, k) for total, _ in problems])
    c = np.array([min(correct, total) for (_, correct), total in zip(problems, n, strict=True)])
    expected = [1 - comb(int(ni - ci), k) / comb(int(ni), k) for ni, ci in zip(n, c, strict=True)]
    assert pass_at_k(c, n, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_known_values_and_errors():
    assert pass_at_k(1, 8, 8) == 1.0  # one correct of 8 is a pass@8 (verl's best@8 says ~0.66)
    assert pass_at_k(0, 8, 8) == 0.0
    assert pass_at_k(2, 8, 1) == pytest.approx(0.25)
    assert avg_at_k(np.array([2, 8]), np.array([8, 8])).tolist() == [0.25, 1.0]
    assert pass_at_k(3, 1000, 10) == pytest.approx(1 - comb(997, 10) / comb(1000, 10))
    with pytest.raises(ValueError, match="at least 9 samples"):
        pass_at_k(1, 8, 9)
    with pytest.raises(ValueError, match="k must be >= 1"):
        pass_at_k(1, 8, 0)


def test_step_flops():
    flops = step_flops(
        1_000,
        gen_prompt_tokens=10,
        gen_response_tokens=90,
        train_prompt_tokens=5,
        train_response_tokens=45,
        with_reference=True,
    )
    assert flops.gen == 2 * 1_000 * 100
    assert flops.logprob == 2 * 2 * 1_000 * 50
    assert flops.update == 6 * 1_000 * 50
    assert flops.total == flops.gen + flops.logprob + flops.update
    assert flops.as_metrics()["aero/compute/total_flops"] == flops.total
    assert update_flops(10, 1, 1, ppo_epochs=2) == 2 * 6 * 10 * 2
    with pytest.raises(ValueError):
        update_flops(-1, 1, 1)
