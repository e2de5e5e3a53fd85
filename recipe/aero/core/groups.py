"""Row -> group mapping: the batch-level functions take a dense ``group_index`` in [0, G), not raw ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_by(keys: Sequence[str] | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Dense group index per row and the group keys, groups numbered in order of first appearance.

    Args:
        keys: One id per row (a uid or a stable prompt id); converted with ``str``.

    Returns:
        (group_index int64[R], group_keys list[str] of length G) with ``group_keys[group_index[r]] == keys[r]``.
    """
    as_str = np.asarray(keys).astype(str)
    if as_str.size == 0:
        return np.zeros(0, dtype=np.int64), []
    unique, first_rows, inverse = np.unique(as_str, return_index=True, return_inverse=True)
    order = np.argsort(first_rows, kind="stable")
    renumber = np.empty(len(unique), dtype=np.int64)
    renumber[order] = np.arange(len(unique))
    return renumber[inverse.reshape(-1)], unique[order].tolist()
