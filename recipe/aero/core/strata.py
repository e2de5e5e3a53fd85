"""Stratification of prompts by their empirical success rate (DESIGN.md §2.2).

Strata are decided on success counts alone, over ALL rollouts generated for the prompt so far, so a shaped
score can never make an all-wrong group look informative.
"""

from __future__ import annotations

import enum

import numpy as np

from recipe.aero.core.config import AeroConfig


class Stratum(enum.IntEnum):
    """The three strata; the integer values are stored in per-group arrays."""

    RESCUE = 0
    LOW = 1
    HIGH = 2


STRATUM_NAMES = {Stratum.RESCUE: "rescue", Stratum.LOW: "low", Stratum.HIGH: "high"}


def check_counts(n_correct: np.ndarray, n_total: np.ndarray, *, allow_empty: bool) -> tuple[np.ndarray, np.ndarray]:
    """Returns the counts as int64 arrays after refusing impossible values (negative, c > n, n = 0).

    Raises:
        ValueError: naming the first offending position and its counts.
    """
    correct = np.asarray(n_correct, dtype=np.int64)
    total = np.asarray(n_total, dtype=np.int64)
    if correct.shape != total.shape:
        raise ValueError(f"n_correct shape {correct.shape} differs from n_total shape {total.shape}")
    lowest_total = 0 if allow_empty else 1
    bad = (correct < 0) | (correct > total) | (total < lowest_total)
    if bad.any():
        position = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(
            f"impossible rollout counts at position {position}: n_correct={int(correct.ravel()[position])}, "
            f"n_total={int(total.ravel()[position])} (need 0 <= n_correct <= n_total, n_total >= {lowest_total})"
        )
    return correct, total


def stratify(n_correct: np.ndarray, n_total: np.ndarray, cfg: AeroConfig) -> np.ndarray:
    """Maps each prompt's (correct, generated) counts to its stratum.

    Args:
        n_correct: Correct rollouts per prompt.
        n_total: Generated rollouts per prompt (>= 1).
        cfg: Thresholds ``rescue_threshold`` and ``low_success_threshold``.

    Returns:
        int8 array of ``Stratum`` values, same shape as the inputs: RESCUE if u <= rescue_threshold,
        LOW if u < low_success_threshold, else HIGH, with u = n_correct / n_total.
    """
    correct, total = check_counts(n_correct, n_total, allow_empty=False)
    success_rate = correct / total
    strata = np.full(success_rate.shape, Stratum.HIGH, dtype=np.int8)
    strata[success_rate < cfg.low_success_threshold] = Stratum.LOW
    strata[success_rate <= cfg.rescue_threshold] = Stratum.RESCUE
    return strata


def rollout_success(scores: np.ndarray, cfg: AeroConfig, acc: np.ndarray | None = None) -> np.ndarray:
    """bool per rollout: ``acc`` (the ``success_key`` reward field) when the reward provides it, else the
    score, compared with ``success_threshold`` (0 works for 0/1 and -1/+1 rewards and for boolean acc)."""
    values = scores if acc is None else acc
    return np.asarray(values, dtype=np.float64) > cfg.success_threshold
