"""Success of one scored rollout, read from what verl's reward loop returns (DESIGN.md §2.0: success alone
decides strata, rescue and degeneracy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.strata import rollout_success


def scored_rollout_success(score: float | None, reward_extra_info: Mapping[str, Any] | None, cfg: AeroConfig) -> bool:
    """The reward's ``success_key`` entry (e.g. ``acc``) when present, else the score, against the threshold.

    A shaped score (format bonus, -1/+1 scales) never makes a wrong answer look correct as long as the reward
    reports ``acc``; the score fallback covers rewards that return a bare 0/1 or -1/+1 score.

    Raises:
        ValueError: when there is neither a ``success_key`` entry nor a score, so the rollout cannot be judged.
    """
    acc = (reward_extra_info or {}).get(cfg.success_key)
    if acc is None and score is None:
        raise ValueError(
            f"rollout has no reward score and no {cfg.success_key!r} in its reward_extra_info: AERO needs the reward "
            "computed at rollout time (rule-based reward, or reward.reward_model.enable_resource_pool=True)"
        )
    scores = np.asarray([0.0 if score is None else float(score)])
    return bool(rollout_success(scores, cfg, acc=None if acc is None else np.asarray([float(acc)]))[0])
