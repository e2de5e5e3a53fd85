"""Batch curation (DESIGN.md §2.4): which generated rollouts are trained on.

Each group is low-success, high-success or degenerate; the registered rule named by the config for that kind
(:mod:`recipe.aero.core.curation_rules`: ``rejection`` for low success, ``none``/``mirror`` for high success,
``subsample`` for degenerate groups) says how many correct and incorrect rollouts it keeps. The random picks are
reproducible across processes and runs: each rollout gets a pseudo-random key from splitmix64 over
(seed, step, blake2b(prompt id), rollout id), and a group keeps its lowest-keyed candidates. That is a
uniformly random subset, computed for the whole batch with one lexsort instead of one generator per group.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.curation_rules import get_curation_rule
from recipe.aero.core.strata import Stratum, stratify

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def stable_key_hash(key: str) -> int:
    """64-bit hash of a prompt id that is identical in every process (unlike ``hash``, which is salted)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised; uint64 arithmetic wraps by design."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + _GOLDEN_GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def rollout_random_keys(
    group_index: np.ndarray, rollout_ids: np.ndarray, prompt_keys: Sequence[str], step: int, seed: int
) -> np.ndarray:
    """uint64 pseudo-random key per rollout, a pure function of (seed, step, prompt id, rollout id)."""
    prompt_hashes = np.fromiter((stable_key_hash(str(key)) for key in prompt_keys), np.uint64, len(prompt_keys))
    step_seed = _splitmix64(_splitmix64(np.asarray([seed], np.uint64)) ^ np.asarray([step], np.uint64))
    group_seeds = _splitmix64(step_seed ^ prompt_hashes)
    return _splitmix64(group_seeds[group_index] ^ _splitmix64(rollout_ids.astype(np.uint64)))


def positions_within_groups(group_index: np.ndarray, num_groups: int) -> np.ndarray:
    """0-based position of each row among the rows of its group, in order of appearance."""
    order = np.argsort(group_index, kind="stable")
    starts = np.concatenate(([0], np.cumsum(np.bincount(group_index, minlength=num_groups))[:-1]))
    positions = np.empty(len(group_index), dtype=np.int64)
    positions[order] = np.arange(len(group_index)) - starts[group_index[order]]
    return positions


@dataclasses.dataclass(frozen=True)
class CurationResult:
    """What curation decided for one batch; per-rollout arrays have length R, per-group ones length G.

    Attributes:
        keep: bool[R], True for rollouts that are trained on.
        stratum: int8[G] ``Stratum`` per group, from success over all generated rollouts.
        degenerate: bool[G], all rollouts correct or all wrong.
        n_generated: int64[G] rollouts generated per group.
        n_correct: int64[G] correct rollouts per group.
        n_kept: int64[G] rollouts kept per group.
    """

    keep: np.ndarray
    stratum: np.ndarray
    degenerate: np.ndarray
    n_generated: np.ndarray
    n_correct: np.ndarray
    n_kept: np.ndarray


def curate_batch(
    success: np.ndarray,
    group_index: np.ndarray,
    prompt_keys: Sequence[str],
    step: int,
    cfg: AeroConfig,
    *,
    rollout_ids: np.ndarray | None = None,
    apply_curation: bool = True,
) -> CurationResult:
    """Decides which rollouts of a batch are trained on (AERO), or keeps all of them (GRPO accounting).

    Args:
        success: bool[R] per generated rollout.
        group_index: int[R] in [0, G): the prompt each rollout belongs to; every prompt needs >= 1 rollout.
        prompt_keys: G stable prompt ids (``data_source/index``), seeding that prompt's random picks.
        step: Global training step (>= 0), so different steps draw different subsets.
        cfg: Curation knobs and ``seed``.
        rollout_ids: Optional int[R] id of each rollout within its prompt (e.g. its generation order), making
            the picks independent of row order. Default: position among the prompt's rows.
        apply_curation: False keeps every rollout but still reports strata and counts, so that a GRPO run
            is accounted exactly like an AERO run.

    Returns:
        The keep mask and per-group strata/degeneracy/counts.

    Raises:
        ValueError: for mismatched lengths, out-of-range group indices, empty groups or a negative step.
    """
    success = np.asarray(success, dtype=bool)
    group_index = np.asarray(group_index, dtype=np.int64)
    num_groups = len(prompt_keys)
    _check_layout(success, group_index, num_groups, step)
    n_generated = np.bincount(group_index, minlength=num_groups)
    n_correct = np.bincount(group_index, weights=success, minlength=num_groups).astype(np.int64)
    strata = stratify(n_correct, n_generated, cfg)
    degenerate = (n_correct == 0) | (n_correct == n_generated)

    if not apply_curation:
        keep = np.ones(len(success), dtype=bool)
        return CurationResult(keep, strata, degenerate, n_generated, n_correct, n_generated.copy())

    keep_correct, keep_wrong = _rule_quotas(n_correct, n_generated, strata, degenerate, cfg)
    if rollout_ids is None:
        rollout_ids = positions_within_groups(group_index, num_groups)
    random_keys = rollout_random_keys(group_index, np.asarray(rollout_ids), prompt_keys, step, cfg.seed)
    # Rank each rollout among the rollouts of its group with the same outcome, by random key: the lowest
    # `keep_correct` (`keep_wrong`) ranks are a uniform random subset of the group's correct (incorrect) ones.
    cell = 2 * group_index + success
    order = np.lexsort((random_keys, cell))
    starts = np.concatenate(([0], np.cumsum(np.bincount(cell, minlength=2 * num_groups))[:-1]))
    rank = np.empty(len(success), dtype=np.int64)
    rank[order] = np.arange(len(success)) - starts[cell[order]]
    keep = rank < np.where(success, keep_correct[group_index], keep_wrong[group_index])
    n_kept = np.bincount(group_index, weights=keep, minlength=num_groups).astype(np.int64)
    return CurationResult(keep, strata, degenerate, n_generated, n_correct, n_kept)


def _rule_quotas(
    n_correct: np.ndarray, n_generated: np.ndarray, strata: np.ndarray, degenerate: np.ndarray, cfg: AeroConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Correct and incorrect rollouts kept per group, from the rule the config names for each group's kind.

    Mixed groups of the rescue stratum (possible only with rescue_threshold > 0, when rescue ran out of budget)
    are curated like low-success ones (DESIGN.md §2.4).

    Raises:
        ValueError: if a rule returns a count that is negative or above what the group generated.
    """
    high = strata == Stratum.HIGH
    kinds = {
        "low_success": ~degenerate & ~high,
        "high_success": ~degenerate & high,
        "degenerate": degenerate,
    }
    keep_correct = np.zeros(len(n_correct), dtype=np.int64)
    keep_wrong = np.zeros(len(n_correct), dtype=np.int64)
    for kind, groups in kinds.items():
        if not groups.any():
            continue
        name = getattr(cfg, f"{kind}_curation")
        correct, generated = n_correct[groups], n_generated[groups]
        wanted = get_curation_rule(kind, name)(correct, generated, cfg)
        wanted_correct, wanted_wrong = (np.broadcast_to(np.asarray(w, dtype=np.int64), correct.shape) for w in wanted)
        within = (0 <= wanted_correct) & (wanted_correct <= correct) & (0 <= wanted_wrong)
        if not (within & (wanted_wrong <= generated - correct)).all():
            raise ValueError(
                f"{kind} curation rule {name!r} must keep between 0 and the generated number of correct and "
                "of incorrect rollouts per group"
            )
        keep_correct[groups], keep_wrong[groups] = wanted_correct, wanted_wrong
    return keep_correct, keep_wrong


def _check_layout(success: np.ndarray, group_index: np.ndarray, num_groups: int, step: int) -> None:
    if success.ndim != 1 or group_index.shape != success.shape:
        raise ValueError(f"success {success.shape} and group_index {group_index.shape} must be equal-length 1-D")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if len(group_index) and (group_index.min() < 0 or group_index.max() >= num_groups):
        raise ValueError(f"group_index must lie in [0, {num_groups}) (one prompt key per group)")
    empty = np.flatnonzero(np.bincount(group_index, minlength=num_groups) == 0)
    if len(empty):
        raise ValueError(f"group {int(empty[0])} has no rollouts; every prompt key needs at least one rollout")
