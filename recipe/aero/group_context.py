"""What the trainer knows about each prompt group that verl's estimator call cannot carry.

verl 0.9.1 calls a registered estimator with ``token_level_rewards``, ``response_mask``, ``index`` (uids) and
``config`` only. AERO's advantages also need, per group, the persistent posterior mean and the counts of the
GENERATED rollouts (curation removed some of them from the batch). The trainer attaches a :class:`GroupContext`
around verl's ``_compute_advantage`` call; the ``aero`` estimator turns it into its per-row keyword arguments.
Outside that ``with`` block nothing is attached and the estimator falls back to this step's rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

_attached: GroupContext | None = None


@dataclasses.dataclass(frozen=True)
class GroupContext:
    """Per-uid facts of one step, each a mapping from verl's per-step uid.

    Attributes:
        p: posterior mean success rate after this step's update.
        n_generated: rollouts generated for the prompt (explore + rescue), before curation.
        n_correct: successful rollouts among them.
        generated_mean: mean score over the generated rollouts (for ``advantage_stats: generated``).
        generated_std: unbiased std of the score over the generated rollouts (same).
        success_by_key: per TransferQueue key of a recorded rollout, its success as judged when it was scored (the
            reward's ``success_key``), so the estimator never re-judges a shaped score.
        row_keys: the TransferQueue keys of the batch verl is about to pass to the estimator, in its row order.
        degenerate_weight: the factor on degenerate groups' advantages this step (``degenerate_loss_share``; 1 = none),
            decided once by the trainer from the step's kept rows and logged as ``aero/batch/degenerate_weight``.
    """

    p: dict[str, float]
    n_generated: dict[str, int]
    n_correct: dict[str, int]
    generated_mean: dict[str, float]
    generated_std: dict[str, float]
    success_by_key: dict[str, bool]
    row_keys: list[str]
    degenerate_weight: float = 1.0

    def row_success_for(self, uids: np.ndarray) -> np.ndarray:
        """Per-row success of the batch (padding rows False), aligned with verl's rows by ``row_keys``.

        Raises:
            ValueError: when the batch verl passes does not have the rows the trainer attached (a row count or uid
                mismatch would otherwise pair successes with the wrong rollouts).
        """
        if len(self.row_keys) != len(uids):
            raise ValueError(f"AERO group context holds {len(self.row_keys)} rows but the estimator got {len(uids)}")
        success = np.zeros(len(uids), dtype=bool)
        for row, (key, uid) in enumerate(zip(self.row_keys, uids, strict=True)):
            if key in self.success_by_key:
                if not key.startswith(f"{uid}_"):
                    raise ValueError(f"AERO group context row {row}: key {key!r} does not belong to uid {uid!r}")
                success[row] = self.success_by_key[key]
        return success

    def row_kwargs(self, uids: Sequence[str]) -> dict[str, np.ndarray]:
        """Per-row keyword arguments of ``compute_aero_advantage`` for these (non-padding) rows.

        Raises:
            KeyError: naming a uid the trainer did not record, i.e. a row that did not come from the sampler.
        """
        missing = [uid for uid in uids if uid not in self.p]
        if missing:
            raise KeyError(f"no AERO group context for uid(s) {missing[:3]}: rows not produced by AeroReplayBuffer")
        return {
            "posterior_mean": np.array([self.p[uid] for uid in uids], dtype=np.float64),
            "generated_counts": np.array([self.n_generated[uid] for uid in uids], dtype=np.int64),
            "generated_correct": np.array([self.n_correct[uid] for uid in uids], dtype=np.int64),
            "generated_mean": np.array([self.generated_mean[uid] for uid in uids], dtype=np.float64),
            "generated_std": np.array([self.generated_std[uid] for uid in uids], dtype=np.float64),
        }


@contextlib.contextmanager
def attached(context: GroupContext) -> Iterator[None]:
    """Makes ``context`` visible to the ``aero`` estimator for the duration of the block."""
    global _attached
    previous, _attached = _attached, context
    try:
        yield
    finally:
        _attached = previous


def current() -> GroupContext | None:
    """The attached context, or None outside :func:`attached`."""
    return _attached
