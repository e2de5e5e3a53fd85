"""Registry of curation rules: how many correct and incorrect rollouts each kind of group keeps.

Curation (:mod:`recipe.aero.core.curation`) sorts every group into one of three kinds, on success counts over all
its generated rollouts: ``low_success`` (mixed, success rate below ``low_success_threshold``, rescued prompts
included), ``high_success`` (mixed, at or above it) and ``degenerate`` (all correct or all wrong). The config key
``algorithm.aero.<kind>_curation`` names the registered rule that decides that kind's groups.

A rule is a pure, vectorised function ``rule(n_correct, n_generated, cfg) -> (keep_correct, keep_wrong)`` over the
groups of its kind: int arrays of how many correct and how many incorrect rollouts each group keeps. Curation
then keeps that many of each, picked uniformly at random and reproducibly; a rule never sees rows, so it cannot
keep part of a rollout or depend on row order. Adding one (see README, "Adding a curation rule")::

    @register_curation_rule("high_success", "drop")
    def drop_high_success(n_correct, n_generated, cfg):
        return np.zeros_like(n_correct), np.zeros_like(n_correct)

and ``algorithm.aero.high_success_curation=drop`` selects it (config validation reads this registry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: config.py imports this module to validate rule names
    from recipe.aero.core.config import AeroConfig

CurationRule = Callable[[np.ndarray, np.ndarray, "AeroConfig"], tuple[np.ndarray, np.ndarray]]

GROUP_KINDS = ("low_success", "high_success", "degenerate")

_RULES: dict[str, dict[str, CurationRule]] = {kind: {} for kind in GROUP_KINDS}


def register_curation_rule(kind: str, name: str) -> Callable[[CurationRule], CurationRule]:
    """Decorator registering ``rule`` as ``name`` for groups of ``kind`` (one of ``GROUP_KINDS``).

    Raises:
        ValueError: for an unknown kind or a name already registered for that kind.
    """
    if kind not in _RULES:
        raise ValueError(f"unknown group kind {kind!r}; kinds: {list(GROUP_KINDS)}")

    def register(rule: CurationRule) -> CurationRule:
        if name in _RULES[kind]:
            raise ValueError(f"a {kind} curation rule named {name!r} is already registered")
        _RULES[kind][name] = rule
        return rule

    return register


def curation_rule_names(kind: str) -> tuple[str, ...]:
    """Names registered for ``kind``, in registration order: the allowed values of ``<kind>_curation``."""
    return tuple(_RULES[kind])


def get_curation_rule(kind: str, name: str) -> CurationRule:
    """The rule registered as ``name`` for ``kind``.

    Raises:
        KeyError: naming the kind, the name and the registered names.
    """
    try:
        return _RULES[kind][name]
    except KeyError:
        raise KeyError(f"no {kind} curation rule {name!r}; registered: {list(curation_rule_names(kind))}") from None


def _round_half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5).astype(np.int64)


def kept_share_quota(n_always: np.ndarray, n_candidates: np.ndarray, cfg: AeroConfig) -> np.ndarray:
    """m = min(candidates, max(min_incorrect_kept, round_half_up(reject_ratio * always_kept))), DESIGN.md §2.4.

    ``always_kept`` is c for a low-success group (candidates are the incorrect rollouts) and n - c for a
    ``mirror``-curated high-success group. Rounding is half-up (2.5 -> 3), not Python's half-to-even.
    """
    wanted = np.maximum(cfg.min_incorrect_kept, _round_half_up(cfg.reject_ratio * np.asarray(n_always)))
    return np.minimum(np.asarray(n_candidates, dtype=np.int64), wanted)


@register_curation_rule("low_success", "rejection")
def rejection(n_correct: np.ndarray, n_generated: np.ndarray, cfg: AeroConfig) -> tuple[np.ndarray, np.ndarray]:
    """Rejection sampling: every correct rollout, and a balanced share of the incorrect ones."""
    return n_correct, kept_share_quota(n_correct, n_generated - n_correct, cfg)


@register_curation_rule("high_success", "none")
def keep_all(n_correct: np.ndarray, n_generated: np.ndarray, cfg: AeroConfig) -> tuple[np.ndarray, np.ndarray]:
    """High-success groups are kept whole (DESIGN.md §2.5)."""
    return n_correct, n_generated - n_correct


@register_curation_rule("high_success", "mirror")
def mirror(n_correct: np.ndarray, n_generated: np.ndarray, cfg: AeroConfig) -> tuple[np.ndarray, np.ndarray]:
    """Rejection sampling with the roles swapped: every incorrect rollout, a balanced share of the correct ones."""
    n_wrong = n_generated - n_correct
    return kept_share_quota(n_wrong, n_correct, cfg), n_wrong


@register_curation_rule("degenerate", "subsample")
def subsample(n_correct: np.ndarray, n_generated: np.ndarray, cfg: AeroConfig) -> tuple[np.ndarray, np.ndarray]:
    """``degenerate_keep`` random rollouts (0 drops the group), trained with the posterior advantage."""
    return np.minimum(n_correct, cfg.degenerate_keep), np.minimum(n_generated - n_correct, cfg.degenerate_keep)
