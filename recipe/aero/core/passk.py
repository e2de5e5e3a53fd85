"""Unbiased pass@k and avg@k for validation (DESIGN.md §4).

verl 0.9.1's ``best@k/mean`` is a bootstrap with replacement and under-estimates pass@k, so the recipe
computes the unbiased estimator 1 - C(n - c, k) / C(n, k) itself (Chen et al. 2021), in the product form
1 - prod_{i=0}^{c-1} (1 - k / (n - i)), which never forms a large binomial coefficient.
"""

from __future__ import annotations

import numpy as np

from recipe.aero.core.strata import check_counts


def pass_at_k(n_correct: np.ndarray | int, n_total: np.ndarray | int, k: int) -> np.ndarray:
    """Unbiased pass@k per problem, vectorised over problems.

    Args:
        n_correct: Correct samples per problem (counts are correct first, then total: DESIGN.md §6).
        n_total: Samples per problem (>= k).
        k: The k of pass@k (>= 1).

    Returns:
        float64 array shaped like ``n`` and ``c`` broadcast together.

    Raises:
        ValueError: for k < 1, k > n or impossible counts.
    """
    correct, total = check_counts(*np.broadcast_arrays(np.asarray(n_correct), np.asarray(n_total)), allow_empty=False)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if (total < k).any():
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got n={int(total.min())}")
    flat_correct, flat_total = correct.ravel(), total.ravel()
    width = int(flat_correct.max()) if flat_correct.size else 0
    steps = np.arange(width)
    # Factor i of problem j is 1 - k / (n_j - i) for i < c_j and 1 beyond; when n - c < k some factor is <= 0
    # and pass@k is exactly 1, handled separately so no negative factor is ever multiplied.
    active = steps[None, :] < flat_correct[:, None]
    denominators = np.maximum(flat_total[:, None] - steps[None, :], 1)
    factors = np.where(active, 1.0 - k / denominators, 1.0)
    always_pass = flat_total - flat_correct < k
    miss_all = np.prod(np.where(always_pass[:, None], 1.0, factors), axis=1)
    return np.where(always_pass, 1.0, 1.0 - miss_all).reshape(correct.shape)


def avg_at_k(n_correct: np.ndarray | int, n_total: np.ndarray | int) -> np.ndarray:
    """Mean accuracy of the n samples per problem (avg@n)."""
    correct, total = check_counts(*np.broadcast_arrays(np.asarray(n_correct), np.asarray(n_total)), allow_empty=False)
    return correct / total
