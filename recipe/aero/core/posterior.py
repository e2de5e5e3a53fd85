"""Per-prompt Beta posterior over the success rate (DESIGN.md §2.6).

Degenerate groups (all correct, or all wrong after rescue) carry no GRPO signal; AERO gives their rollouts
the advantage (r - p) / (sqrt(p (1 - p)) + eps) with p the posterior mean of the prompt's success rate.
The state persists across steps and epochs, keyed by a stable prompt id, with exponential forgetting:
before a step's counts are added, alpha <- prior_alpha + decay * (alpha - prior_alpha) (same for beta).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from recipe.aero.core.strata import check_counts

logger = logging.getLogger(__name__)

_STATE_VERSION = 1


def step_posterior_mean(
    n_correct: np.ndarray, n_total: np.ndarray, prior_alpha: float, prior_beta: float
) -> np.ndarray:
    """Posterior mean from one step's counts only (a store with decay 0): (a0 + c) / (a0 + b0 + n)."""
    correct, total = check_counts(n_correct, n_total, allow_empty=True)
    return (prior_alpha + correct) / (prior_alpha + prior_beta + total)


def posterior_advantage(success: np.ndarray, p: np.ndarray, epsilon: float) -> np.ndarray:
    """(r - p) / (sqrt(p (1 - p)) + eps) with r = success in {0, 1}; p broadcast against success."""
    p = np.asarray(p, dtype=np.float64)
    return (np.asarray(success, dtype=np.float64) - p) / (np.sqrt(p * (1.0 - p)) + epsilon)


class PosteriorStore:
    """Beta(alpha, beta) per prompt id with forgetting; arrays indexed through a key -> slot dict.

    Args:
        prior_alpha: Prior pseudo-successes (> 0).
        prior_beta: Prior pseudo-failures (> 0).
        decay: Weight of the past state at each update, in [0, 1] (0 = this step only, 1 = never forget).
    """

    def __init__(self, prior_alpha: float, prior_beta: float, decay: float) -> None:
        if prior_alpha <= 0 or prior_beta <= 0:
            raise ValueError(f"priors must be > 0, got prior_alpha={prior_alpha}, prior_beta={prior_beta}")
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must lie in [0, 1], got {decay}")
        self.prior_alpha = float(prior_alpha)
        self.prior_beta = float(prior_beta)
        self.decay = float(decay)
        self._slots: dict[str, int] = {}
        self._alpha = np.zeros(0, dtype=np.float64)
        self._beta = np.zeros(0, dtype=np.float64)

    @classmethod
    def from_config(cls, cfg: Any) -> PosteriorStore:
        """Store with ``cfg.prior_alpha``, ``cfg.prior_beta`` and ``cfg.posterior_decay`` (an ``AeroConfig``)."""
        return cls(cfg.prior_alpha, cfg.prior_beta, cfg.posterior_decay)

    def __len__(self) -> int:
        return len(self._slots)

    def update(self, keys: Sequence[str], n_correct: np.ndarray, n_total: np.ndarray) -> np.ndarray:
        """Decays each prompt's state, adds this step's generated counts, returns the posterior means.

        Args:
            keys: Prompt ids, unique within one update (a duplicate would add the step's counts twice).
            n_correct: Correct rollouts per prompt this step (before curation).
            n_total: Generated rollouts per prompt this step (before curation).

        Returns:
            float64 posterior mean p = alpha / (alpha + beta) per key, after the update.

        Raises:
            ValueError: for duplicate keys, length mismatches or impossible counts.
        """
        correct, total = check_counts(n_correct, n_total, allow_empty=True)
        if len(keys) != len(correct):
            raise ValueError(f"{len(keys)} keys but {len(correct)} counts")
        if len(set(keys)) != len(keys):
            duplicate = next(key for key in keys if list(keys).count(key) > 1)
            raise ValueError(f"prompt id {duplicate!r} appears more than once in one posterior update")
        slots = self._slots_for(keys)
        alpha = self.prior_alpha + self.decay * (self._alpha[slots] - self.prior_alpha) + correct
        beta = self.prior_beta + self.decay * (self._beta[slots] - self.prior_beta) + (total - correct)
        self._alpha[slots] = alpha
        self._beta[slots] = beta
        return alpha / (alpha + beta)

    def state_dict(self) -> dict[str, Any]:
        """Plain-python state (lists of str/float), exact under ``load_state_dict`` and picklable/JSON-able."""
        keys = list(self._slots)
        slots = np.fromiter((self._slots[key] for key in keys), np.int64, len(keys))
        return {
            "version": _STATE_VERSION,
            "prior_alpha": self.prior_alpha,
            "prior_beta": self.prior_beta,
            "decay": self.decay,
            "keys": keys,
            "alpha": self._alpha[slots].tolist(),
            "beta": self._beta[slots].tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replaces the per-prompt state with a saved one (checkpoint resume).

        The saved priors/decay are compared with this store's: a difference is logged (the resumed run
        keeps its configured values, so changing them on resume is a deliberate choice, not silent).

        Raises:
            ValueError: for an unknown version, mismatched lengths or duplicate keys.
        """
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"posterior state version {state.get('version')!r} is not {_STATE_VERSION}")
        keys, alpha, beta = list(state["keys"]), state["alpha"], state["beta"]
        if not len(keys) == len(alpha) == len(beta):
            raise ValueError(f"posterior state has {len(keys)} keys, {len(alpha)} alphas, {len(beta)} betas")
        if len(set(keys)) != len(keys):
            raise ValueError("posterior state has duplicate prompt ids")
        for name in ("prior_alpha", "prior_beta", "decay"):
            if state[name] != getattr(self, name):
                logger.warning(
                    "posterior state was saved with %s=%s, resuming with %s", name, state[name], getattr(self, name)
                )
        self._slots = {key: slot for slot, key in enumerate(keys)}
        self._alpha = np.asarray(alpha, dtype=np.float64).copy()
        self._beta = np.asarray(beta, dtype=np.float64).copy()

    def counts(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, beta) per key without changing the store; a key never seen gets the prior."""
        slots = np.array([self._slots.get(key, -1) for key in keys], dtype=np.int64)
        seen = slots >= 0
        alpha = np.full(len(keys), self.prior_alpha)
        beta = np.full(len(keys), self.prior_beta)
        alpha[seen], beta[seen] = self._alpha[slots[seen]], self._beta[slots[seen]]
        return alpha, beta

    def summary(self) -> dict[str, float]:
        """Numbers for the ``aero/posterior/*`` metrics: prompts tracked and their mean posterior p."""
        if not self._slots:
            return {"num_prompts": 0, "mean_p": float("nan")}
        p = self._alpha / (self._alpha + self._beta)
        return {"num_prompts": len(self._slots), "mean_p": float(p.mean())}

    def _slots_for(self, keys: Sequence[str]) -> np.ndarray:
        """Slot of each key, new keys getting new slots at the prior."""
        slots = np.empty(len(keys), dtype=np.int64)
        new_keys = 0
        for position, key in enumerate(keys):
            slot = self._slots.get(key)
            if slot is None:
                slot = len(self._slots)
                self._slots[key] = slot
                new_keys += 1
            slots[position] = slot
        if new_keys:
            self._alpha = np.concatenate((self._alpha, np.full(new_keys, self.prior_alpha)))
            self._beta = np.concatenate((self._beta, np.full(new_keys, self.prior_beta)))
        return slots
