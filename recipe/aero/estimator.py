"""``algorithm.adv_estimator=aero``: AERO's advantages behind verl's advantage-estimator interface.

verl's ``ray_trainer.compute_advantage`` calls a registered estimator with ``token_level_rewards``,
``response_mask``, ``index`` (the per-step ``uid`` of each row's prompt) and ``config`` (the ``algorithm``
DictConfig) only. From those this estimator groups rows by uid (ragged groups are fine), skips verl's
synthetic padding rows (uid ``pad...``, zero response mask) and gives:

* mixed groups (by success): GRPO exactly as verl's ``grpo`` estimator over the rows it sees;
* degenerate groups: the posterior advantage (r - p) / (sqrt(p (1 - p)) + eps), with p from this step's
  counts, (prior_alpha + c) / (prior_alpha + prior_beta + n), unless the trainer passes its persistent p; scaled
  by the step's degenerate loss weight (``algorithm.aero.degenerate_loss_share``; the trainer's, else from the rows).

Success of each row is what the AERO trainer recorded when the rollout was scored (the reward's ``success_key``,
e.g. ``acc``; see ``recipe/aero/success.py``) and hands over in its group context, so a shaped score (a format
bonus on a wrong answer) never counts as a success here. Without a context (a plain call) the fallback is
score > ``success_threshold`` with score = ``token_level_rewards.sum(-1)``. ``algorithm.norm_adv_by_std_in_grpo``
is honoured as verl's ``grpo`` honours it (verl passes it only to its own ``grpo``; this estimator reads it from
``config``). With ``algorithm.aero.advantage=grpo`` (an ablation, DESIGN.md §2.11) every row gets verl's own
``grpo`` advantage instead, whatever its group. This module imports verl only in that case, so it is cheap to load
from the ``verl.plugins`` entry point (see ``register.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from recipe.aero import group_context
from recipe.aero.core.advantages import aero_advantages, degenerate_loss_weight
from recipe.aero.core.config import AeroConfig
from recipe.aero.core.posterior import step_posterior_mean
from recipe.aero.core.strata import rollout_success

PADDING_UID_PREFIX = "pad"


def aero_config_from_algorithm(config: Any) -> AeroConfig:
    """``AeroConfig`` from verl's ``algorithm`` config (DictConfig, dict, dataclass or None): its ``aero`` key,
    the defaults when absent (DESIGN.md §3); validated, so a bad value fails with the key's name."""
    if config is None:
        return AeroConfig()
    if isinstance(config, AeroConfig):
        return config
    if isinstance(config, Mapping) or hasattr(config, "get"):
        section = config.get("aero", None)
    else:
        section = getattr(config, "aero", None)
    return AeroConfig.from_mapping(section)


def _norm_adv_by_std(config: Any) -> bool:
    """verl's ``algorithm.norm_adv_by_std_in_grpo`` (default True) from the ``config`` verl passes."""
    if config is None or isinstance(config, AeroConfig):
        return True
    if isinstance(config, Mapping) or hasattr(config, "get"):
        return bool(config.get("norm_adv_by_std_in_grpo", True))
    return bool(getattr(config, "norm_adv_by_std_in_grpo", True))


def _per_group(name: str, values: Any, rows: np.ndarray, group_index: np.ndarray) -> np.ndarray:
    """Per-row trainer values (constant within a group) -> per-group array; refuses inconsistent groups."""
    values = np.asarray(values)
    if values.shape != rows.shape:
        raise ValueError(f"aero estimator: kwarg {name!r} has shape {values.shape}, expected {rows.shape}")
    values = values[rows]
    _, first_rows = np.unique(group_index, return_index=True)
    per_group = values[first_rows]
    if not np.array_equal(values, per_group[group_index]):
        raise ValueError(f"aero estimator: kwarg {name!r} must be constant within each uid group")
    return per_group


def compute_aero_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray | None = None,
    config: Any = None,
    *,
    success: np.ndarray | torch.Tensor | None = None,
    posterior_mean: np.ndarray | None = None,
    generated_counts: np.ndarray | None = None,
    generated_correct: np.ndarray | None = None,
    generated_mean: np.ndarray | None = None,
    generated_std: np.ndarray | None = None,
    **unused: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """AERO advantages for the rows of one training batch (the rows that survived curation).

    Args:
        token_level_rewards: [bs, L] rewards; the outcome score of a row is their sum.
        response_mask: [bs, L] 1 on response tokens.
        index: [bs] uid per row (verl's ``non_tensor_batch["uid"]``); rows with a ``pad`` uid are padding.
        config: verl's ``algorithm`` config; AERO reads ``config.aero`` (defaults when absent).
        success: Optional [bs] bool from the trainer (e.g. the reward's ``acc``); default score > threshold.
        posterior_mean: Optional [bs] float, the trainer's persistent-store posterior mean p of each row's
            prompt (constant within a uid); default: this step's counts with the prior.
        generated_counts: Optional [bs] int, rollouts GENERATED for each row's prompt, before curation.
        generated_correct: Optional [bs] int, correct rollouts among them. With ``generated_counts`` it
            decides degeneracy and the default p from the generated rollouts rather than the rows seen.
        generated_mean: Optional [bs] float, mean score of the GENERATED rollouts of each row's prompt.
        generated_std: Optional [bs] float, their unbiased std. With ``generated_mean`` they give mixed groups
            their ``advantage_stats: generated`` statistics even though curated-out rows are not in the batch.
        **unused: Other verl kwargs (e.g. ``reward_baselines``), ignored.

    When the trainer has attached a :class:`~recipe.aero.group_context.GroupContext` (the AERO trainer does,
    around verl's ``_compute_advantage``), the four ``generated_*``/``posterior_mean`` arguments come from it.

    Returns:
        (advantages, returns), both [bs, L] in the rewards' dtype, zero outside ``response_mask`` and on
        padding rows, as verl's ``grpo`` returns them.

    Raises:
        ValueError: for missing ``index``, mismatched shapes, inconsistent trainer kwargs, or
            ``advantage_stats: generated`` when rows were curated out (their scores are not here: the
            trainer must then use ``recipe.aero.core.aero_advantages`` with the keep mask).
        AeroConfigError: for an invalid ``algorithm.aero`` value.
    """
    cfg = aero_config_from_algorithm(config)
    if index is None:
        raise ValueError("aero estimator needs index (the uid of each row); the batch has no 'uid' field")
    if cfg.advantage == "grpo":
        from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

        return compute_grpo_outcome_advantage(
            token_level_rewards, response_mask, index, norm_adv_by_std_in_grpo=_norm_adv_by_std(config)
        )
    if token_level_rewards.dim() != 2 or response_mask.shape != token_level_rewards.shape:
        raise ValueError(
            f"token_level_rewards {tuple(token_level_rewards.shape)} and response_mask "
            f"{tuple(response_mask.shape)} must both be [batch, response_length]"
        )
    batch_size = token_level_rewards.shape[0]
    uids = np.asarray(index).astype(str)
    if uids.shape != (batch_size,):
        raise ValueError(f"index has shape {uids.shape}, expected ({batch_size},)")

    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1).detach().cpu().numpy().astype(np.float64)
    real = ~np.char.startswith(uids, PADDING_UID_PREFIX)
    _, group_index = np.unique(uids[real], return_inverse=True)
    group_index = group_index.reshape(-1)
    num_groups = int(group_index.max()) + 1 if len(group_index) else 0

    context = group_context.current()
    degenerate_weight = None
    if context is not None and posterior_mean is None and generated_counts is None:
        degenerate_weight = context.degenerate_weight
        from_context = context.row_kwargs(uids[real])
        filled = {name: np.zeros(batch_size, dtype=values.dtype) for name, values in from_context.items()}
        for name, values in from_context.items():
            filled[name][real] = values
        posterior_mean, generated_counts, generated_correct = (
            filled["posterior_mean"],
            filled["generated_counts"],
            filled["generated_correct"],
        )
        generated_mean, generated_std = filled["generated_mean"], filled["generated_std"]
        if success is None:
            success = context.row_success_for(uids)

    if success is None:
        row_success = rollout_success(scores[real], cfg)
    else:
        row_success = np.asarray(torch.as_tensor(success).cpu(), dtype=bool)[real]
    seen = np.bincount(group_index, minlength=num_groups)
    if generated_counts is None:
        n_total, n_correct = seen, np.bincount(group_index, weights=row_success, minlength=num_groups)
    else:
        if generated_correct is None:
            raise ValueError("aero estimator: generated_counts needs generated_correct as well")
        n_total = _per_group("generated_counts", generated_counts, real, group_index)
        n_correct = _per_group("generated_correct", generated_correct, real, group_index)
        if (n_total < seen).any():
            raise ValueError("aero estimator: generated_counts is smaller than the rows present for some uid")
        if cfg.advantage_stats == "generated" and generated_mean is None and (n_total > seen).any():
            raise ValueError(
                "algorithm.aero.advantage_stats=generated: curated-out rollouts are not in this batch; compute "
                "advantages with recipe.aero.core.aero_advantages(..., keep=mask) over the generated rollouts"
            )
    if posterior_mean is None:
        group_p = step_posterior_mean(n_correct, n_total, cfg.prior_alpha, cfg.prior_beta)
    else:
        group_p = _per_group("posterior_mean", posterior_mean, real, group_index).astype(np.float64)
    degenerate = (n_correct == 0) | (n_correct == n_total)
    if degenerate_weight is None:
        degenerate_rows = int(degenerate[group_index].sum())
        degenerate_weight = degenerate_loss_weight(
            degenerate_rows, len(group_index) - degenerate_rows, cfg.degenerate_loss_share
        )

    row_advantages = np.zeros(batch_size, dtype=np.float64)
    scale_by_std = _norm_adv_by_std(config)
    row_advantages[real] = aero_advantages(
        scores[real],
        row_success,
        group_index,
        group_p,
        cfg,
        degenerate=degenerate,
        scale_by_std=scale_by_std,
        degenerate_weight=degenerate_weight,
    )
    if cfg.advantage_stats == "generated" and generated_mean is not None:
        row_advantages[real] = _with_generated_stats(
            row_advantages[real],
            scores[real],
            row_success,
            group_index,
            group_p,
            cfg,
            degenerate,
            n_total,
            n_correct,
            _per_group("generated_mean", generated_mean, real, group_index),
            _per_group("generated_std", generated_std, real, group_index),
            scale_by_std,
        )
    advantages = torch.from_numpy(row_advantages).to(device=token_level_rewards.device, dtype=token_level_rewards.dtype)
    advantages = advantages.unsqueeze(-1) * response_mask
    return advantages, advantages


def _with_generated_stats(
    advantages: np.ndarray,
    scores: np.ndarray,
    success: np.ndarray,
    group_index: np.ndarray,
    group_p: np.ndarray,
    cfg: AeroConfig,
    degenerate: np.ndarray,
    n_total: np.ndarray,
    n_correct: np.ndarray,
    generated_mean: np.ndarray,
    generated_std: np.ndarray,
    scale_by_std: bool,
) -> np.ndarray:
    """Mixed-group advantages with statistics over all GENERATED rollouts (``advantage_stats: generated``).

    ``posterior_scope: degenerate`` uses GRPO's (score - mean) / (std + eps) with the generated score mean/std;
    ``all`` uses (r - p) / (std_r + eps) with std_r the unbiased std of success over the generated rollouts,
    sqrt(c (n - c) / (n (n - 1))). Degenerate groups keep their posterior advantage.
    """
    if cfg.posterior_scope == "all":
        n, c = n_total.astype(np.float64), n_correct.astype(np.float64)
        std_r = np.sqrt(np.divide(c * (n - c), n * (n - 1), out=np.ones_like(n), where=n > 1))
        centred, scale = success - group_p[group_index], std_r[group_index]
    else:
        centred, scale = scores - generated_mean[group_index], generated_std[group_index]
    mixed = centred / (scale + cfg.epsilon) if scale_by_std else centred
    return np.where(degenerate[group_index], advantages, mixed)
