"""The iterative-rescue planner (DESIGN.md §2.3): how many rollouts a prompt gets next.

The planner is a pure function of a prompt's own counts, so the trainer can call it per prompt as soon as
that prompt's previous round is scored (asynchronous rescue) or for a whole batch at once.
"""

from __future__ import annotations

import numpy as np

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.strata import check_counts


def next_round_sizes(n_correct: np.ndarray, n_generated: np.ndarray, cfg: AeroConfig) -> np.ndarray:
    """Vectorised planner: rollouts to generate next per prompt, 0 meaning the prompt is finished.

    Rules: a prompt with nothing generated gets ``n_explore`` (Stage I); a prompt whose success rate over
    all its rollouts is at or below ``rescue_threshold`` gets ``min(n_extra, budget - n_generated)`` more;
    every other prompt stops. With the default threshold 0 rescue therefore stops at the first success,
    and no prompt ever exceeds ``budget``.

    Args:
        n_correct: Correct rollouts so far per prompt (counts are correct first, then total: DESIGN.md §6).
        n_generated: Rollouts generated so far per prompt.
        cfg: ``n_explore``, ``n_extra``, ``budget``, ``rescue_threshold``.

    Returns:
        int64 array of round sizes, same shape as the inputs.

    Raises:
        ValueError: for impossible counts (negative, correct > generated, generated > budget).
    """
    correct, generated = check_counts(n_correct, n_generated, allow_empty=True)
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
    sizes[~started] = cfg.n_explore
    sizes[needs_rescue] = np.minimum(cfg.n_extra, cfg.budget - generated[needs_rescue])
    return sizes


def next_round_size(n_correct: int, n_generated: int, cfg: AeroConfig) -> int:
    """Scalar form of :func:`next_round_sizes` for the per-prompt asynchronous rescue loop."""
    return int(next_round_sizes(np.asarray([n_correct]), np.asarray([n_generated]), cfg)[0])
