"""Replay-buffer sampler: waits for the step's final groups, curates them, and records the step's accounting.

verl's sync ``ReplayBuffer.sample`` returns every trajectory of ``train_batch_size`` terminal prompt groups.
:class:`AeroReplayBuffer` lets it do that (with a short poll instead of verl's fixed 2 s), then asks the core which
rollouts to keep (spec steps 4-6), removes the dropped ones from TransferQueue (removed, not masked, so they cannot
leak into any group statistic) and keeps a :class:`~recipe.aero.accounting.StepRecord` of what was generated,
kept and dropped for the trainer. With ``algorithm.adv_estimator=grpo`` nothing is dropped but the record is the
same, so both arms are accounted identically. Validation batches pass through untouched.
"""

from __future__ import annotations

import inspect
import logging
import time

import numpy as np
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from recipe.aero.accounting import StepRecord
from recipe.aero.core.config import AeroConfig
from recipe.aero.core.curation import curate_batch
from recipe.aero.core.groups import group_by
from recipe.aero.core.strata import stratify
from recipe.aero.success import scored_rollout_success

logger = logging.getLogger(__name__)

# verl's default poll interval (2 s). Validation lists every TransferQueue key per poll (six eval sets x 8 samples,
# ~25k keys) while generation takes minutes, so validation polls no faster than this.
VERL_POLL_INTERVAL_S = inspect.signature(ReplayBuffer.__init__).parameters["poll_interval"].default


class AeroReplayBuffer(ReplayBuffer):
    """verl's sync replay buffer plus AERO curation and per-step accounting.

    Args:
        aero: the validated AERO config.
        curate: True for AERO, False for the GRPO baseline (keep everything, account the same way).
        poll_interval: seconds between TransferQueue polls of training batches (validation: at least verl's 2 s).
        **kwargs: verl's ``ReplayBuffer`` arguments (the AERO trainer passes ``trainer_mode="sync"``).
    """

    def __init__(self, *, aero: AeroConfig, curate: bool, poll_interval: float, **kwargs):
        super().__init__(poll_interval=poll_interval, **kwargs)
        self.aero = aero
        self.curate = curate
        self.last_record: StepRecord | None = None

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        batch, metrics = super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)
        if partition_id == "val":
            return batch, metrics
        return self._curate(batch, global_steps), metrics

    def _wait_for_next_poll(self, partition_id: str, last_debug_time: float) -> float:
        """Training polls every ``poll_interval`` s; validation at most every ``VERL_POLL_INTERVAL_S`` s."""
        if partition_id == "val" and self.poll_interval < VERL_POLL_INTERVAL_S:
            time.sleep(VERL_POLL_INTERVAL_S - self.poll_interval)
        return super()._wait_for_next_poll(partition_id, last_debug_time)

    def _curate(self, batch: KVBatchMeta, global_steps: int) -> KVBatchMeta:
        keys = list(batch.keys)
        uids = [key.split("_")[0] for key in keys]
        sessions = np.array([int(key.split("_")[1]) for key in keys], dtype=np.int64)
        fields = tq.kv_batch_get(
            keys=keys,
            partition_id=batch.partition_id,
            select_fields=["rm_scores", "extra_fields", "data_source", "index"],
        )
        scores = fields["rm_scores"].to_padded_tensor(0.0).sum(dim=-1).double().numpy()
        extra_fields = _column(fields, "extra_fields")
        success = np.array(
            [
                scored_rollout_success(score, (extra or {}).get("reward_extra_info"), self.aero)
                for score, extra in zip(scores, extra_fields, strict=True)
            ],
            dtype=bool,
        )
        group_index, group_uids = group_by(uids)
        data_sources, indices = _column(fields, "data_source"), _column(fields, "index")
        _, first_row = np.unique(group_index, return_index=True)
        prompt_keys = [f"{data_sources[row]}/{int(indices[row])}" for row in first_row]

        curation = curate_batch(
            success, group_index, prompt_keys, global_steps, self.aero, rollout_ids=sessions, apply_curation=self.curate
        )
        if not curation.keep.any():
            raise RuntimeError(
                f"step {global_steps}: AERO curation kept no rollout of {len(group_uids)} prompts; every group was "
                f"degenerate and algorithm.aero.degenerate_keep=0 drops them all. Raise degenerate_keep."
            )
        dropped = [key for key, keep in zip(keys, curation.keep, strict=True) if not keep]
        if dropped:
            tq.kv_clear(keys=dropped, partition_id=batch.partition_id)

        is_rescue = sessions >= self.aero.n_explore if self.curate else np.zeros(len(keys), dtype=bool)
        explore = ~is_rescue
        n_explore_generated = np.bincount(group_index, weights=explore, minlength=len(group_uids)).astype(np.int64)
        n_explore_correct = np.bincount(group_index, weights=explore & success, minlength=len(group_uids))
        n_explore_correct = n_explore_correct.astype(np.int64)
        self.last_record = StepRecord(
            group_index=group_index,
            session=sessions,
            score=scores,
            success=success,
            is_rescue=is_rescue,
            kept=curation.keep,
            prompt_tokens=np.array([tag["prompt_len"] for tag in batch.tags], dtype=np.int64),
            response_tokens=np.array([tag["response_len"] for tag in batch.tags], dtype=np.int64),
            uids=group_uids,
            prompt_keys=prompt_keys,
            n_generated=curation.n_generated,
            n_correct=curation.n_correct,
            n_explore_generated=n_explore_generated,
            n_explore_correct=n_explore_correct,
            stratum=stratify(n_explore_correct, n_explore_generated, self.aero),
            keys_kept=[key for key, keep in zip(keys, curation.keep, strict=True) if keep],
        )
        kept_tags = [tag for tag, keep in zip(batch.tags, curation.keep, strict=True) if keep]
        return KVBatchMeta(
            partition_id=batch.partition_id,
            keys=self.last_record.keys_kept,
            tags=kept_tags,
            extra_info=dict(batch.extra_info or {}),
        )


def _column(fields, name: str) -> list:
    """One non-tensor TransferQueue field as a plain list (entries may come wrapped as NonTensorData)."""
    return [getattr(value, "data", value) for value in fields[name]]
