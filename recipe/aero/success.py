"""What counts as a successful rollout (spec section 2: strata, rescue and degeneracy use success alone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def rollout_success(
    score: float | None, reward_extra_info: Mapping[str, Any] | None, key: str, threshold: float
) -> bool:
    """Success of one rollout: the reward's ``key`` entry (e.g. ``acc``) when present, else score > threshold.

    A shaped score (format bonus, -1/+1 scales) never makes a wrong answer look correct as long as the reward
    reports ``acc``; the threshold fallback covers rewards that return a bare 0/1 or -1/+1 score.

    Args:
        score: the rollout's scalar reward (None when the reward has not been computed).
        reward_extra_info: the reward function's extra outputs for this rollout.
        key: ``algorithm.aero.success_key``.
        threshold: ``algorithm.aero.success_threshold``.

    Raises:
        ValueError: when there is neither a ``key`` entry nor a score, so the rollout cannot be judged.
    """
    if reward_extra_info and key in reward_extra_info and reward_extra_info[key] is not None:
        return float(reward_extra_info[key]) > 0.0
    if score is None:
        raise ValueError(
            f"rollout has no reward score and no {key!r} in its reward_extra_info: AERO needs the reward computed "
            "at rollout time (rule-based reward, or reward.reward_model.enable_resource_pool=True)"
        )
    return float(score) > threshold
