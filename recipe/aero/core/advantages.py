"""Per-rollout scalar advantages for ragged groups (DESIGN.md §2.6-2.7), vectorised with bincount.

Mixed groups get GRPO's (score - mean) / (std + eps) exactly as verl's ``compute_grpo_outcome_advantage``
computes it (unbiased std; a group with a single rollout uses mean 0 and std 1), over the kept or the
generated rollouts (``advantage_stats``). Degenerate groups get the posterior advantage
(r - p) / (sqrt(p (1 - p)) + eps) with r = success, scaled by the batch's degenerate loss weight
(``degenerate_loss_share``, 1 by default). Rollouts that are not kept get 0.
"""

from __future__ import annotations

import numpy as np

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.posterior import posterior_advantage


def group_mean_std(
    values: np.ndarray, group_index: np.ndarray, num_groups: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group mean and unbiased std over the selected rows, with verl's singleton rule.

    Args:
        values: float[R].
        group_index: int[R] in [0, num_groups).
        num_groups: G.
        rows: Optional bool[R]; only these rows enter the statistics (default: all).

    Returns:
        (mean[G], std[G]) as float64; a group with fewer than two selected rows gets mean 0 and std 1,
        which is what verl's ``grpo`` does for a singleton group.
    """
    values = np.asarray(values, dtype=np.float64)
    weights = np.ones(len(values)) if rows is None else np.asarray(rows, dtype=np.float64)
    count = np.bincount(group_index, weights=weights, minlength=num_groups)
    total = np.bincount(group_index, weights=values * weights, minlength=num_groups)
    several = count > 1
    mean = np.divide(total, count, out=np.zeros(num_groups), where=several)
    deviation = (values - mean[group_index]) * weights
    squares = np.bincount(group_index, weights=deviation * deviation, minlength=num_groups)
    std = np.sqrt(np.divide(squares, count - 1, out=np.ones(num_groups), where=several))
    return mean, std


def grpo_advantages(
    scores: np.ndarray,
    group_index: np.ndarray,
    num_groups: int,
    epsilon: float,
    rows: np.ndarray | None = None,
    scale_by_std: bool = True,
) -> np.ndarray:
    """GRPO's (score - mean) / (std + eps) per rollout, statistics over ``rows`` (default all).

    ``scale_by_std=False`` is verl's ``algorithm.norm_adv_by_std_in_grpo=False`` (Dr. GRPO): score - mean.
    """
    mean, std = group_mean_std(scores, group_index, num_groups, rows)
    centred = np.asarray(scores, dtype=np.float64) - mean[group_index]
    return centred / (std[group_index] + epsilon) if scale_by_std else centred


def degenerate_loss_weight(degenerate_rows: int, mixed_rows: int, max_share: float) -> float:
    """The factor on degenerate groups' advantages that caps their share of a batch's loss weight (DESIGN.md §2.6).

    verl's policy loss is linear in each row's advantage for a positive factor (the PPO clip and dual clip select by
    the advantage's sign only), so scaling a row's advantage by w weights its loss term by w. With D degenerate and
    M mixed trained rows, w = min(1, s / (1 - s) * M / D) gives w D / (w D + M) <= s: with s = 0.5 the degenerate
    groups together count no more than the mixed ones. s = 1 (the default) is no cap; a batch with no mixed row
    and s < 1 gets w = 0 (nothing but degenerate groups: nothing they may outweigh).

    Args:
        degenerate_rows: trained rows of degenerate groups.
        mixed_rows: trained rows of mixed groups.
        max_share: ``algorithm.aero.degenerate_loss_share`` in (0, 1].
    """
    if not 0.0 < max_share <= 1.0:
        raise ValueError(f"degenerate_loss_share must lie in (0, 1], got {max_share}")
    if max_share == 1.0 or degenerate_rows == 0:
        return 1.0
    return min(1.0, max_share / (1.0 - max_share) * mixed_rows / degenerate_rows)


def aero_advantages(
    scores: np.ndarray,
    success: np.ndarray,
    group_index: np.ndarray,
    group_p: np.ndarray,
    cfg: AeroConfig,
    *,
    keep: np.ndarray | None = None,
    degenerate: np.ndarray | None = None,
    scale_by_std: bool = True,
    degenerate_weight: float = 1.0,
) -> np.ndarray:
    """AERO advantage per rollout for a batch of ragged groups.

    Args:
        scores: float[R] outcome scores (verl: ``token_level_rewards.sum(-1)``).
        success: bool[R].
        group_index: int[R] in [0, G).
        group_p: float[G] posterior mean success rate per group (persistent store or this step's counts).
        cfg: ``epsilon``, ``posterior_scope``, ``advantage_stats``.
        keep: Optional bool[R] curation mask; the arrays then hold all GENERATED rollouts, the statistics
            follow ``advantage_stats`` and rollouts not kept get 0. Default: every row is kept.
        degenerate: Optional bool[G]; default: derived from ``success`` over all rows (pass it when the
            rows are only the kept ones, so degeneracy still refers to the generated rollouts).
        scale_by_std: False for verl's ``norm_adv_by_std_in_grpo=False``: mixed groups are centred but not divided
            by their std, exactly as verl's ``grpo`` then does; degenerate groups keep the posterior advantage,
            whose scale sqrt(p (1 - p)) is part of its definition (DESIGN.md §2.6).
        degenerate_weight: factor on the degenerate groups' posterior advantages (:func:`degenerate_loss_weight`).

    Returns:
        float64[R] advantages.

    Notes:
        ``posterior_scope: all`` (ablation) replaces the empirical mean by p in mixed groups too; it then
        works on success r in {0, 1} rather than the raw score (DESIGN.md §2.6: p is a success rate, so r - p is
        only meaningful for r in {0, 1}; for 0/1 scores the two readings coincide): (r - p) / (std_r + eps).
    """
    success = np.asarray(success, dtype=bool)
    group_index = np.asarray(group_index, dtype=np.int64)
    group_p = np.asarray(group_p, dtype=np.float64)
    num_groups = len(group_p)
    keep = np.ones(len(success), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if degenerate is None:
        n_rows = np.bincount(group_index, minlength=num_groups)
        n_correct = np.bincount(group_index, weights=success, minlength=num_groups)
        degenerate = (n_correct == 0) | (n_correct == n_rows)
    stats_rows = keep if cfg.advantage_stats == "kept" else None

    if cfg.posterior_scope == "all":
        _, std = group_mean_std(success, group_index, num_groups, stats_rows)
        centred = success - group_p[group_index]
        mixed = centred / (std[group_index] + cfg.epsilon) if scale_by_std else centred
    else:
        mixed = grpo_advantages(scores, group_index, num_groups, cfg.epsilon, stats_rows, scale_by_std)
    posterior = posterior_advantage(success, group_p[group_index], cfg.epsilon) * degenerate_weight
    advantages = np.where(np.asarray(degenerate, dtype=bool)[group_index], posterior, mixed)
    advantages[~keep] = 0.0
    return advantages
