"""Unbiased ``pass@k`` and ``avg@k`` per validation data source (DESIGN.md §4).

verl 0.9.1's ``best@k/mean`` bootstraps with replacement and under-estimates Pass@k (one correct of eight scores
about 0.66), so the recipe logs its own: per problem, ``pass@k = 1 - C(n-c, k) / C(n, k)`` and ``avg@n = c / n``,
averaged over the problems of each data source, as ``aero_val/{data_source}/pass@{k}`` and ``.../avg@{n}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recipe.aero.core.passk import avg_at_k, pass_at_k


def pass_at_k_metrics(data_sources: Sequence[str], sample_uids: Sequence[str], correct: Sequence) -> dict[str, float]:
    """Per data source: ``avg@n`` and ``pass@k`` for k = 1, 2, 4, ... up to the smallest group size n.

    Args:
        data_sources: per validation sample, its data source.
        sample_uids: per sample, the uid of its problem (all samples of a problem share it).
        correct: per sample, whether it is correct (bool or 0/1).

    Returns:
        A flat metric dict; ``n`` in ``avg@{n}`` is the largest number of samples a problem got.
    """
    sources = np.asarray([str(source) for source in data_sources], dtype=object)
    uids = np.asarray([str(uid) for uid in sample_uids], dtype=object)
    hits = np.asarray([float(value) > 0 for value in correct], dtype=np.int64)
    metrics: dict[str, float] = {}
    for source in sorted(set(sources.tolist())):
        in_source = sources == source
        _, problem, n = np.unique(uids[in_source], return_inverse=True, return_counts=True)
        c = np.bincount(problem, weights=hits[in_source], minlength=len(n)).astype(np.int64)
        metrics[f"aero_val/{source}/avg@{int(n.max())}"] = float(avg_at_k(c, n).mean())
        for k in _k_values(int(n.min())):
            metrics[f"aero_val/{source}/pass@{k}"] = float(pass_at_k(c, n, k).mean())
    return metrics


def _k_values(n_min: int) -> list[int]:
    ks = [2**i for i in range(n_min.bit_length()) if 2**i <= n_min]
    return ks if ks[-1] == n_min else [*ks, n_min]
