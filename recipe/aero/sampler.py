"""Replay-buffer sampler: waits for the step's final groups, curates them, and records the step's accounting.

verl's sync ``ReplayBuffer.sample`` returns every trajectory of ``train_batch_size`` terminal prompt groups.
:class:`AeroReplayBuffer` lets it do that (with a short poll instead of verl's fixed 2 s), then asks the core which
rollouts to keep (DESIGN.md §2.4-2.5), removes the dropped ones from TransferQueue (removed, not masked, so they cannot
leak into any group statistic) and keeps a :class:`~recipe.aero.accounting.StepRecord` of what was generated,
kept and dropped for the trainer. With fixed rollouts (the GRPO baseline) nothing is dropped but the record is the
same, so both arms are accounted identically. Validation batches pass through untouched.

Failures never reach the update: verl's sync sampler hands over a prompt whose rollout loop ended in ``failure``
with whatever rows it wrote, and a reward may return NaN or inf. Both kinds of rows are removed from TransferQueue
here, before any group statistic, and counted (``aero/failed/*``; their tokens stay in the generation counts).
What made a prompt fail is read from its terminal tag (``FAILURE_TAG``) and kept in the step's record, so a step
with nothing to train, or a run stopped by failures (:class:`TrainingStopped`), names the cause. The rescue race's
aborted siblings have no row (their outcome is unknown, only their tokens were spent): the prompt's terminal tag
lists them and they are counted from it (``aero/race/*``), as are the siblings whose abort never landed (they ran to
their end as ordinary rollouts; the first step with any is warned about, once per run).
"""

from __future__ import annotations

import inspect
import logging
import time

import numpy as np
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

from recipe.aero.accounting import StepRecord, describe_causes
from recipe.aero.agent_loop import ABORT_FAILED_TAG, ABORT_MAX_ATTEMPTS, ABORTED_TAG, FAILURE_TAG
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
        self._failed_selected: set[str] = set()
        self._failure_causes: dict[str, int] = {}
        self._aborted_by_uid: dict[str, list[list[int]]] = {}
        self._abort_failed = 0
        self._warned_abort_failed = False
        self._selected: list[str] = []

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        """verl's sync sample, then curation; a step whose every prompt failed stops the run naming the cause.

        verl's sampler refuses a batch of prompts none of which wrote a row, advising an option the AERO trainer
        refuses (``sync_refill_failed_groups``); when every selected prompt failed, that advice is replaced by
        :class:`TrainingStopped` with what made them fail.
        """
        if partition_id == "val":
            return super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)
        self._selected = []
        try:
            batch, metrics = super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)
        except RuntimeError:
            if self._selected and set(self._selected) <= self.failure_keys[partition_id]:
                causes = _count_causes(self._read_prompt_tags(partition_id, self._selected))
                raise TrainingStopped(
                    f"step {global_steps}: every one of the {len(self._selected)} prompts failed and none wrote a "
                    f"rollout, so there is nothing to train; {describe_causes(causes)}"
                ) from None  # verl's message advises sync_refill_failed_groups, which the AERO trainer refuses
            raise
        return self._curate(batch, global_steps), metrics

    def _select_prompt_uids(self, partition_id: str, sampleable_keys: set[str], batch_size: int):
        """verl's selection, remembered so that a refused batch can be explained."""
        selected = super()._select_prompt_uids(partition_id, sampleable_keys, batch_size)
        self._selected = list(selected[0])
        return selected

    @staticmethod
    def _read_prompt_tags(partition_id: str, uids: list[str]) -> dict[str, dict]:
        """The prompts' terminal tags (verl keeps none of them and clears them when it materializes the batch)."""
        prompts = tq.kv_list(partition_id=partition_id).get(partition_id) or {}
        return {uid: prompts.get(uid) or {} for uid in uids}

    def _materialize_batch(
        self, partition_id: str, selected_prompt_uids: list[str], partition_snapshot: dict[str, dict]
    ) -> KVBatchMeta:
        """verl's batch of the selected prompts; remembers which of them ended in ``failure`` and, with the rescue
        race, the aborted siblings each prompt's terminal tag lists (they have no row; verl keeps no prompt tags
        and clears the prompts' entries here, so they are read first)."""
        self._failed_selected = set(selected_prompt_uids) & set(self.failure_keys[partition_id])
        self._aborted_by_uid, self._failure_causes, self._abort_failed = {}, {}, 0
        if partition_id != "val" and (self.aero.rescue_race or self._failed_selected):
            tags = self._read_prompt_tags(partition_id, selected_prompt_uids)
            self._aborted_by_uid = {uid: tag.get(ABORTED_TAG) or [] for uid, tag in tags.items()}
            self._abort_failed = sum(len(tag.get(ABORT_FAILED_TAG) or []) for tag in tags.values())
            self._failure_causes = _count_causes({uid: tags[uid] for uid in self._failed_selected})
        return super()._materialize_batch(partition_id, selected_prompt_uids, partition_snapshot)

    def _wait_for_next_poll(self, partition_id: str, last_debug_time: float) -> float:
        """Training polls every ``poll_interval`` s; validation at most every ``VERL_POLL_INTERVAL_S`` s."""
        if partition_id == "val" and self.poll_interval < VERL_POLL_INTERVAL_S:
            time.sleep(VERL_POLL_INTERVAL_S - self.poll_interval)
        return super()._wait_for_next_poll(partition_id, last_debug_time)

    def _warn_abort_failed(self, global_steps: int) -> None:
        """Once per run: race siblings whose abort never landed mean the race is not saving what it should."""
        if not self._abort_failed or self._warned_abort_failed:
            return
        self._warned_abort_failed = True
        logger.warning(
            "step %d: %d rescue-race sibling(s) could not be aborted within %d abort calls each and ran to their end "
            "(aero/race/abort_failed; warned once per run). vLLM's per-request abort is not reaching the engine: "
            "check that verl_patches P10 was applied in the vLLM servers (a supported vLLM, see the preflight) or set "
            "algorithm.aero.rescue_race=false",
            global_steps,
            self._abort_failed,
            ABORT_MAX_ATTEMPTS,
        )

    def _curate(self, batch: KVBatchMeta, global_steps: int) -> KVBatchMeta:
        fields = tq.kv_batch_get(
            keys=list(batch.keys),
            partition_id=batch.partition_id,
            select_fields=["rm_scores", "extra_fields", "data_source", "index"],
        )
        all_scores = fields["rm_scores"].to_padded_tensor(0.0).sum(dim=-1).double().numpy()
        of_failed_prompt = np.array([key_uid(key) in self._failed_selected for key in batch.keys], dtype=bool)
        nonfinite = ~np.isfinite(all_scores) & ~of_failed_prompt
        usable = ~(of_failed_prompt | nonfinite)
        unusable = [key for key, ok in zip(batch.keys, usable, strict=True) if not ok]
        unusable_tags = [tag for tag, ok in zip(batch.tags, usable, strict=True) if not ok]
        if unusable:
            logger.warning(
                "step %d: %d prompt(s) failed in the rollout loop and %d rollout(s) scored NaN/inf; their %d rollouts "
                "are removed from the update",
                global_steps,
                len(self._failed_selected),
                int(nonfinite.sum()),
                len(unusable),
            )
        keys = [key for key, ok in zip(batch.keys, usable, strict=True) if ok]
        tags = [tag for tag, ok in zip(batch.tags, usable, strict=True) if ok]
        uids = [key_uid(key) for key in keys]
        sessions = np.array([key_session(key) for key in keys], dtype=np.int64)
        scores = all_scores[usable]
        extra_fields = [value for value, ok in zip(_column(fields, "extra_fields"), usable, strict=True) if ok]
        success = np.array(
            [
                scored_rollout_success(score, (extra or {}).get("reward_extra_info"), self.aero)
                for score, extra in zip(scores, extra_fields, strict=True)
            ],
            dtype=bool,
        )
        group_index, group_uids = group_by(uids)
        aborted = [(uid, entry) for uid in group_uids for entry in self._aborted_by_uid.get(uid, [])]
        data_sources = [v for v, ok in zip(_column(fields, "data_source"), usable, strict=True) if ok]
        indices = [v for v, ok in zip(_column(fields, "index"), usable, strict=True) if ok]
        _, first_row = np.unique(group_index, return_index=True)
        prompt_keys = [f"{data_sources[row]}/{int(indices[row])}" for row in first_row]

        curation = curate_batch(
            success, group_index, prompt_keys, global_steps, self.aero, rollout_ids=sessions, apply_curation=self.curate
        )
        dropped = [key for key, keep in zip(keys, curation.keep, strict=True) if not keep]

        timing = [(extra or {}).get("aero_timing") or {} for extra in extra_fields]
        round_index = np.array([t.get("round", -1) for t in timing], dtype=np.int64)
        started_at = np.array([t.get("started_at") or np.nan for t in timing], dtype=np.float64)
        finished_at = np.array([t.get("finished_at") or np.nan for t in timing], dtype=np.float64)
        if (round_index < 0).any():  # rollouts without a timing record: sessions beyond n_explore are rescue
            round_index = np.where(sessions >= self.aero.n_explore, 1, 0) if self.curate else np.zeros_like(sessions)
        is_rescue = round_index > 0
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
            prompt_tokens=np.array([tag["prompt_len"] for tag in tags], dtype=np.int64),
            response_tokens=np.array([tag["response_len"] for tag in tags], dtype=np.int64),
            uids=group_uids,
            prompt_keys=prompt_keys,
            n_generated=curation.n_generated,
            n_correct=curation.n_correct,
            n_explore_generated=n_explore_generated,
            n_explore_correct=n_explore_correct,
            stratum=stratify(n_explore_correct, n_explore_generated, self.aero),
            round_index=round_index,
            started_at=started_at,
            finished_at=finished_at,
            keys=keys,
            keys_kept=[key for key, keep in zip(keys, curation.keep, strict=True) if keep],
            failed_prompts=len(self._failed_selected),
            failed_rollouts=int((~usable).sum()),
            nonfinite_scores=int(nonfinite.sum()),
            failure_causes=dict(self._failure_causes),
            failed_prompt_tokens=sum(int(tag["prompt_len"]) for tag in unusable_tags),
            failed_response_tokens=sum(int(tag["response_len"]) for tag in unusable_tags),
            aborted_uids=[uid for uid, _ in aborted],
            aborted_sessions=np.array([entry[0] for _, entry in aborted], dtype=np.int64),
            aborted_prompt_tokens=np.array([entry[1] for _, entry in aborted], dtype=np.int64),
            aborted_response_tokens=np.array([entry[2] for _, entry in aborted], dtype=np.int64),
            abort_failed=self._abort_failed,
        )
        self._warn_abort_failed(global_steps)
        kept_tags = [tag for tag, keep in zip(tags, curation.keep, strict=True) if keep]
        curated = KVBatchMeta(
            partition_id=batch.partition_id,
            keys=self.last_record.keys_kept,
            tags=kept_tags,
            extra_info=dict(batch.extra_info or {}),
        )
        if not curated.keys:
            # verl's fit() clears the step's batch from TransferQueue and refuses an empty key list, so the
            # untrained rows travel as the skipped step's batch and are cleared there.
            raise NothingToTrain(
                f"step {global_steps}: nothing to train among {len(batch.keys)} rollouts of "
                f"{len({key_uid(key) for key in batch.keys} | self._failed_selected)} prompts: "
                f"{self.last_record.why_nothing_kept()}",
                KVBatchMeta(partition_id=batch.partition_id, keys=list(batch.keys), tags=list(batch.tags)),
                caused_by_failures=self.last_record.nothing_kept_because_of_failures(),
            )
        if unusable or dropped:
            tq.kv_clear(keys=unusable + dropped, partition_id=batch.partition_id)
        return curated


class NothingToTrain(Exception):
    """Raised by :meth:`AeroReplayBuffer.sample` when curation and failures left no rollout of the step to train.

    The step's record is complete (``last_record``); the trainer skips the update and counts it instead of
    crashing hours into a run, and stops the run after ``trainer.v1.aero.max_failed_steps`` such steps in a row
    that failures (not degenerate groups) emptied.

    Attributes:
        batch: every rollout of the step, none to be trained; verl's ``fit()`` removes them from TransferQueue.
        caused_by_failures: True when failed prompts or NaN/inf scores, not curation, left nothing to train.
    """

    def __init__(self, reason: str, batch: KVBatchMeta, caused_by_failures: bool = False):
        super().__init__(reason)
        self.batch = batch
        self.caused_by_failures = caused_by_failures


class TrainingStopped(RuntimeError):
    """The run cannot train: every prompt of a step failed, or failures emptied too many steps in a row.

    The message names the cause (the failing reward's or engine's exception type and message, the NaN share).
    """


def _count_causes(tags: dict[str, dict]) -> dict[str, int]:
    """How many prompts failed of each cause, from their terminal tags (``unknown`` when a tag names none)."""
    causes: dict[str, int] = {}
    for tag in tags.values():
        cause = tag.get(FAILURE_TAG) or "unknown (the prompt's terminal tag names no cause)"
        causes[cause] = causes.get(cause, 0) + 1
    return causes


def key_uid(key: str) -> str:
    """The prompt uid of a TransferQueue trajectory key; verl's agent loop writes ``{uid}_{session}_{turn}``."""
    return key.split("_")[0]


def key_session(key: str) -> int:
    """The session (rollout) number of a TransferQueue trajectory key ``{uid}_{session}_{turn}``."""
    return int(key.split("_")[1])


def _column(fields, name: str) -> list:
    """One non-tensor TransferQueue field as a plain list (entries may come wrapped as NonTensorData)."""
    return [getattr(value, "data", value) for value in fields[name]]
