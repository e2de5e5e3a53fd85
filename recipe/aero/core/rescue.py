"""The iterative-rescue planner (DESIGN.md §2.3): how many rollouts a prompt gets next.

The planner is a pure function of a prompt's own counts, so the trainer can call it per prompt as soon as
that prompt's previous round is scored (asynchronous rescue) or for a whole batch at once.
"""

from __future__ import annotations

import numpy as np

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.strata import check_counts


def next_round_sizes(
    n_correct: np.ndarray, n_generated: np.ndarray, cfg: AeroConfig, first_round: np.ndarray | None = None
) -> np.ndarray:
    """Vectorised planner: rollouts to generate next per prompt, 0 meaning the prompt is finished.

    Rules: a prompt with nothing generated gets ``n_explore`` (Stage I); a prompt whose success rate over
    all its rollouts is at or below ``rescue_threshold`` gets ``min(n_extra, budget - n_generated)`` more
    (with ``rescue_race``: ``budget - n_generated``, one race round whose running siblings the agent loop aborts at
    the first success); every other prompt stops. With the default threshold 0 rescue therefore stops at the
    first success, and no prompt ever exceeds ``budget``.

    Args:
        n_correct: Correct rollouts so far per prompt (counts are correct first, then total: DESIGN.md §6).
        n_generated: Rollouts generated so far per prompt.
        cfg: ``n_explore``, ``n_extra``, ``budget``, ``rescue_threshold``, ``rescue_race``.
        first_round: Optional first-round size per prompt (posterior-guided exploration, ``core/exploration.py``);
            default ``n_explore``. Each must lie in [1, budget].

    Returns:
        int64 array of round sizes, same shape as the inputs.

    Raises:
        ValueError: for impossible counts (negative, correct > generated, generated > budget) or a first-round
            size outside [1, budget].
    """
    correct, generated = check_counts(n_correct, n_generated, allow_empty=True)
    if first_round is None:
        first_round = np.full(generated.shape, cfg.n_explore, dtype=np.int64)
    first_round = np.broadcast_to(np.asarray(first_round, dtype=np.int64), generated.shape)
    if ((first_round < 1) | (first_round > cfg.budget)).any():
        raise ValueError(f"first-round sizes must lie in [1, algorithm.aero.budget={cfg.budget}], got {first_round}")
    over_budget = generated > cfg.budget
    if over_budget.any():
        position = int(np.flatnonzero(over_budget.ravel())[0])
        raise ValueError(
            f"prompt at position {position} already has {int(generated.ravel()[position])} rollouts, "
            f"more than algorithm.aero.budget={cfg.budget}"
        )
    started = generated > 0
    success_rate = np.divide(correct, generated, out=np.zeros(generated.shape), where=started)
    needs_rescue = started & (success_rate <= cfg.rescue_threshold)
    sizes = np.zeros(generated.shape, dtype=np.int64)
    sizes[~started] = first_round[~started]
    rescue_size = cfg.budget if cfg.rescue_race else cfg.n_extra
    sizes[needs_rescue] = np.minimum(rescue_size, cfg.budget - generated[needs_rescue])
    return sizes


def next_round_size(n_correct: int, n_generated: int, cfg: AeroConfig, first_round: int | None = None) -> int:
    """Scalar form of :func:`next_round_sizes` for the per-prompt asynchronous rescue loop."""
    first = None if first_round is None else np.asarray([first_round])
    return int(next_round_sizes(np.asarray([n_correct]), np.asarray([n_generated]), cfg, first)[0])
