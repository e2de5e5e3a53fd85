"""Posterior-guided exploration (DESIGN.md §2.1, our variant, off by default): first-round sizes from the store.

The persistent posterior already knows, from earlier epochs, which prompts are solved every time and which fail
every time. Exploring those with ``n_explore`` rollouts (and a known-failing one with rescue round after rescue
round) spends rollouts and, worse, rounds on the step's critical path. With ``guided_exploration`` on, a prompt
whose evidence (observed pseudo-counts, ``alpha + beta - prior_alpha - prior_beta``) reaches
``guidance_min_evidence`` is

* ``known_solved`` (posterior mean >= ``known_solved_mean``): explored with ``n_explore_known_solved`` rollouts;
* ``known_failing`` (posterior mean <= ``known_failing_mean``): given its whole ``budget`` in the first round, so
  its rescue never waits on a previous round;
* otherwise, like every prompt without enough evidence, ``unknown``: explored with ``n_explore`` as the paper does.

The planner then continues from the first round as usual (rescue after a zero-success first round, within budget).
"""

from __future__ import annotations

import numpy as np

from recipe.aero.core.config import AeroConfig

UNKNOWN, KNOWN_SOLVED, KNOWN_FAILING = 0, 1, 2
GUIDANCE_NAMES = {UNKNOWN: "unknown", KNOWN_SOLVED: "known_solved", KNOWN_FAILING: "known_failing"}


def classify(alpha: np.ndarray, beta: np.ndarray, cfg: AeroConfig) -> np.ndarray:
    """Guidance class per prompt from its posterior (alpha, beta) (``PosteriorStore.counts``).

    Returns:
        int64 array of ``UNKNOWN`` / ``KNOWN_SOLVED`` / ``KNOWN_FAILING``; all ``UNKNOWN`` when guidance is off.
    """
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    guidance = np.full(alpha.shape, UNKNOWN, dtype=np.int64)
    if not cfg.guided_exploration:
        return guidance
    evidence = alpha + beta - cfg.prior_alpha - cfg.prior_beta
    mean = alpha / (alpha + beta)
    known = evidence >= cfg.guidance_min_evidence
    guidance[known & (mean >= cfg.known_solved_mean)] = KNOWN_SOLVED
    guidance[known & (mean <= cfg.known_failing_mean)] = KNOWN_FAILING
    return guidance


def first_round_sizes(guidance: np.ndarray, cfg: AeroConfig) -> np.ndarray:
    """Rollouts of each prompt's first round: ``n_explore``, ``n_explore_known_solved`` or ``budget``."""
    sizes = np.full(np.shape(guidance), cfg.n_explore, dtype=np.int64)
    sizes[np.asarray(guidance) == KNOWN_SOLVED] = cfg.n_explore_known_solved
    sizes[np.asarray(guidance) == KNOWN_FAILING] = cfg.budget
    return sizes
