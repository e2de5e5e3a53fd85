"""The AERO trainer: verl's V1 sync trainer plus the posterior store, AERO advantages and AERO accounting.

:class:`AeroTrainer` is a ``PPOTrainerSync`` registered as trainer mode ``"aero"``. It changes five things:
it builds the :class:`~recipe.aero.sampler.AeroReplayBuffer`; before verl computes advantages it updates the
posterior store once with the step's generated counts and hands the ``aero`` estimator each group's posterior
mean and degeneracy; it adds the ``aero/*`` metrics (DESIGN.md §4) and unbiased ``pass@k`` / ``avg@k``
validation metrics to what verl logs; and it saves the posterior store and the cumulative counters inside
verl's ``global_step_N/`` checkpoint before verl marks the step as the latest, restoring them on resume.
The same trainer runs the GRPO baseline (``algorithm.adv_estimator=grpo``): no curation, verl's ``grpo``
estimator, identical accounting; and either half of AERO alone (:class:`~recipe.aero.core.config.Arm`, decided once
here from ``algorithm.aero.rollout`` / ``algorithm.aero.advantage``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import numpy as np
import torch
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from recipe.aero import group_context
from recipe.aero.accounting import (
    CumulativeCounters,
    batch_composition_metrics,
    step_compute_metrics,
    step_metrics,
    step_timing_metrics,
    zero_advantage_share,
)
from recipe.aero.agent_loop import FIRST_ROUND_COLUMN
from recipe.aero.core.advantages import group_mean_std
from recipe.aero.core.config import AeroConfig, AeroTrainerConfig, Arm
from recipe.aero.core.exploration import GUIDANCE_NAMES, classify, first_round_sizes
from recipe.aero.core.posterior import PosteriorStore
from recipe.aero.core.update_sizing import plan_update
from recipe.aero.sampler import AeroReplayBuffer, NothingToTrain, TrainingStopped, key_uid
from recipe.aero.success import scored_rollout_success
from recipe.aero.validation import pass_at_k_metrics

logger = logging.getLogger(__name__)

STATE_FILE = "aero_state.json"
# algorithm.aero keys that define what the saved posterior counts mean (what a success is, the prior they are added
# to): a resume that changes one is refused. Every other key is saved too and a change is logged as a warning (the
# counts stay valid evidence; the run is then a different experiment from its first part).
STATE_DEFINING_KEYS = ("success_key", "success_threshold", "prior_alpha", "prior_beta")


@register_trainer("aero")
class AeroTrainer(PPOTrainerSync):
    """verl's sync V1 trainer with AERO's sampler, posterior store, metrics and checkpoint state."""

    def __init__(self, config):
        self.aero = AeroConfig.from_mapping(config.algorithm.get("aero"))
        self.arm = Arm.of(config.algorithm.adv_estimator, self.aero)
        self.posterior = PosteriorStore.from_config(self.aero)
        self._skipped_update = False
        self._guidance_metrics: dict[str, float] = {}
        self.cumulative = CumulativeCounters()
        self.trainer_aero = AeroTrainerConfig.from_mapping(config.trainer.v1.get("aero"))
        super().__init__(config)
        # Registered under its own name but a sync trainer: verl's `trainer_mode != "sync"` branches (async
        # checkpointing of TransferQueue, re-issue of in-flight prompts) must not fire.
        self.trainer_mode = "sync"
        self.n_params = count_parameters(config.actor_rollout_ref.model.path)
        self.group_log_path = self.trainer_aero.group_log_path
        # PPO mini-batches (optimizer steps) per epoch, as GRPO takes them; each step's AERO update is planned from
        # its trained rows and algorithm.aero.update_sizing (core/update_sizing.py).
        self.num_mini_batches = max(
            1, config.data.train_batch_size // config.actor_rollout_ref.actor.ppo_mini_batch_size
        )
        self._rows_to_train = 0
        self._update_plan = None
        self._failed_steps_in_a_row = 0

    def _build_replay_buffer(self) -> AeroReplayBuffer:
        sampler_config = self.config.trainer.v1.sampler
        mode_config = self.config.trainer.v1.get("aero", {})
        return AeroReplayBuffer(
            aero=self.aero,
            curate=self.arm.adaptive_rollout,
            poll_interval=self.trainer_aero.poll_interval_s,
            trainer_mode="sync",
            trainer_config=mode_config,
            max_off_policy_threshold=sampler_config.max_off_policy_threshold,
            max_off_policy_strategy=sampler_config.max_off_policy_strategy,
            sampler_kwargs=sampler_config.sampler_kwargs,
            refill_fn=self._add_prompts_to_generate,
        )

    def _submit_batch_to_rollout(self, batch):
        """verl's submission; with guided exploration each prompt first carries its first-round size.

        The size comes from the persistent posterior (``core/exploration.py``); the agent loop pops the column.
        """
        if self.arm.adaptive_rollout and self.aero.guided_exploration:
            guidance = classify(*self.posterior.counts(prompt_keys(batch)), self.aero)
            batch[FIRST_ROUND_COLUMN] = torch.from_numpy(first_round_sizes(guidance, self.aero))
            counts = np.bincount(guidance, minlength=len(GUIDANCE_NAMES))
            self._guidance_metrics = {
                f"aero/guidance/prompts_{name}": float(counts[code]) for code, name in GUIDANCE_NAMES.items()
            }
        return super()._submit_batch_to_rollout(batch)

    def _balance_batch(self, batch: KVBatchMeta, metrics: dict, logging_prefix="global_seqlen", keep_minibatch=False):
        """verl's padding and balancing, with AERO's update planned first from the step's trained rows."""
        self._rows_to_train = sum(not tag.get("is_padding", False) for tag in batch.tags)
        self._update_plan = None
        return super()._balance_batch(batch, metrics, logging_prefix=logging_prefix, keep_minibatch=keep_minibatch)

    def _get_required_batch_multiple(self, dp_size: int) -> int:
        """AERO pads its curated batch only to ``dp_size x`` its planned mini-batches (``core/update_sizing.py``).

        verl pads every batch to a multiple of ``ppo_mini_batch_size x rollout.n`` trajectories (GRPO's mini-batch)
        with 128-token synthetic rows. A curated AERO batch is smaller and its size varies, so that rule would fill it
        back up with padding that costs log-prob and update compute; the plan needs at most ``dp_size x mini-batches
        - 1`` such rows.
        """
        if not self.arm.adaptive_rollout or self.use_critic:
            return super()._get_required_batch_multiple(dp_size)
        self._update_plan = plan_update(
            self._rows_to_train,
            sizing=self.aero.update_sizing,
            grpo_mini_batches=self.num_mini_batches,
            grpo_mini_batch_rows=self.config.actor_rollout_ref.actor.ppo_mini_batch_size * self.aero.budget,
            dp_size=dp_size,
        )
        return dp_size * self._update_plan.mini_batches

    def _update_actor(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """verl's update; AERO's curated batch is split into the mini-batches its plan decided.

        verl's ``_update_actor`` reads the mini-batch size, in trajectories, as ``actor.ppo_mini_batch_size x
        rollout.n`` from the config when called; for this call only, they are set so that their product is the
        plan's rows per mini-batch (the batch was padded to a multiple of that by the method above). Both arms log
        the update's shape (``aero/update/*``).
        """
        actor, rollout = self.config.actor_rollout_ref.actor, self.config.actor_rollout_ref.rollout
        plan = self._update_plan
        if plan is None:  # verl's own sizing (GRPO, fixed rollouts)
            mini_batch_rows = actor.ppo_mini_batch_size * rollout.n
            batch = super()._update_actor(batch, metrics)
            mini_batches = len(batch) // mini_batch_rows
            padding = sum(tag.get("is_padding", False) for tag in batch.tags)
        else:
            if len(batch) != plan.padded_rows:
                raise RuntimeError(
                    f"AERO update planned for {plan.padded_rows} rows ({plan.trained_rows} trained) but verl's batch "
                    f"holds {len(batch)}: the padding rule changed under the trainer"
                )
            saved = actor.ppo_mini_batch_size, rollout.n
            actor.ppo_mini_batch_size, rollout.n = plan.mini_batch_rows, 1
            try:
                batch = super()._update_actor(batch, metrics)
            finally:
                actor.ppo_mini_batch_size, rollout.n = saved
            mini_batch_rows, mini_batches, padding = plan.mini_batch_rows, plan.mini_batches, plan.padding_rows
        metrics.update(
            {
                "aero/update/mini_batches": float(mini_batches),
                "aero/update/optimizer_steps": float(mini_batches * int(actor.ppo_epochs)),
                "aero/update/mini_batch_rollouts": float(mini_batch_rows),
                "aero/update/padding_rows": float(padding),
            }
        )
        return batch

    def _step_once(self, metrics: dict, timing_raw: dict, sample_batch_size: int) -> KVBatchMeta:
        """verl's single update, or none when the sampler found nothing to train (logged and counted).

        Steps that failures emptied (not curation) are counted in a row; ``trainer.v1.aero.max_failed_steps`` of them
        stop the run with :class:`~recipe.aero.sampler.TrainingStopped`, naming what failed.
        """
        self._skipped_update = False
        try:
            metrics["aero/skipped_update"] = 0.0
            batch = super()._step_once(metrics, timing_raw, sample_batch_size)
        except NothingToTrain as skip:
            logger.warning("skipping the update: %s", skip)
            self._skipped_update = True
            metrics["aero/skipped_update"] = 1.0
            metrics["aero/update/optimizer_steps"] = 0.0
            self._update_posterior(self.replay_buffer.last_record, metrics)
            self._failed_steps_in_a_row = self._failed_steps_in_a_row + 1 if skip.caused_by_failures else 0
            if self._failed_steps_in_a_row >= self.trainer_aero.max_failed_steps:
                raise TrainingStopped(
                    f"{self._failed_steps_in_a_row} training steps in a row had nothing to train because of failures "
                    f"(trainer.v1.aero.max_failed_steps={self.trainer_aero.max_failed_steps}); the last one: {skip}"
                ) from skip
            return skip.batch
        self._failed_steps_in_a_row = 0
        return batch

    def _update_posterior(self, record, metrics: dict) -> np.ndarray:
        """Adds the step's generated counts to the posterior store (both arms: identical accounting)."""
        group_p = self.posterior.update(record.prompt_keys, record.n_correct, record.n_generated)
        metrics.update({f"aero/posterior/{name}": value for name, value in self.posterior.summary().items()})
        return group_p

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        record = self.replay_buffer.last_record
        # Every arm's posterior learns; only the posterior advantage half reads it.
        group_p = self._update_posterior(record, metrics)
        max_share = self.aero.degenerate_loss_share if self.arm.posterior_advantage else None
        composition = batch_composition_metrics(record, max_share)
        metrics.update(composition)
        if not self.arm.posterior_advantage:
            batch = super()._compute_advantage(batch, metrics)
        else:
            uids = record.uids
            generated_mean, generated_std = group_mean_std(record.score, record.group_index, len(uids))
            context = group_context.GroupContext(
                p=dict(zip(uids, group_p.tolist(), strict=True)),
                n_generated=dict(zip(uids, record.n_generated.tolist(), strict=True)),
                n_correct=dict(zip(uids, record.n_correct.tolist(), strict=True)),
                generated_mean=dict(zip(uids, generated_mean.tolist(), strict=True)),
                generated_std=dict(zip(uids, generated_std.tolist(), strict=True)),
                success_by_key=dict(zip(record.keys, record.success.tolist(), strict=True)),
                row_keys=list(batch.keys),
                degenerate_weight=composition["aero/batch/degenerate_weight"],
            )
            with group_context.attached(context):
                batch = super()._compute_advantage(batch, metrics)
        metrics["aero/zero_adv_share/after"] = self._zero_advantage_share(batch, record)
        return batch

    def _zero_advantage_share(self, batch: KVBatchMeta, record) -> float:
        """Share of trained prompts whose advantages are all exactly zero, read back from the batch.

        Also records each trained rollout's advantage (its first response token's: outcome advantages are
        constant over the response) in ``record.advantage`` for the group log.
        """
        rows = [i for i, tag in enumerate(batch.tags) if not tag.get("is_padding", False)]
        keys = [batch.keys[i] for i in rows]
        advantages = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id, select_fields=["advantages"])
        padded = advantages["advantages"].to_padded_tensor(0.0).double()
        abs_max = padded.abs().amax(dim=-1).numpy()
        record.set_trained_advantages(keys, padded[:, 0].numpy())
        position = {uid: i for i, uid in enumerate(record.uids)}
        group_index = np.array([position[key_uid(key)] for key in keys], dtype=np.int64)
        return zero_advantage_share(group_index, abs_max, len(record.uids))

    def step(self, metrics: dict, timing_raw: dict) -> KVBatchMeta:
        """verl's step, then the step's ``aero/*`` accounting, added to the running totals right away.

        verl's ``fit()`` runs ``step()``, then ``_save_checkpoint()``, then ``_compute_metrics()``; accounting here
        (not in ``_compute_metrics``) is what puts step N itself into ``global_step_N/aero_state.json``.
        """
        batch = super().step(metrics, timing_raw)
        record = self.replay_buffer.last_record
        actor = self.config.actor_rollout_ref.actor
        step = step_metrics(record)
        step.update(
            step_compute_metrics(
                record, self.n_params, with_reference=self.use_reference_policy, ppo_epochs=int(actor.ppo_epochs)
            )
        )
        step.update(step_timing_metrics(record))
        step.update(self._guidance_metrics)
        step.update(self.arm.metrics())
        step.update(self.cumulative.add(step))
        metrics.update(step)
        if self.group_log_path:
            with open(self.group_log_path, "a") as f:
                f.writelines(json.dumps(row) + "\n" for row in record.group_rows(self.global_steps))
        return batch

    def _compute_metrics(self, batch: KVBatchMeta, metrics, timing_raw, global_steps, epoch):
        """verl's data and timing metrics; a skipped update has no trained rows for them to read."""
        if not self._skipped_update:
            super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)

    def _val_metrics_update(self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns, **kwargs):
        metric_dict = super()._val_metrics_update(
            data_sources, sample_uids, reward_extra_infos_dict, sample_turns, **kwargs
        )
        # Success by training's own rule (the success_key entry, else the score, against success_threshold).
        scores = reward_extra_infos_dict["reward"]
        judged = reward_extra_infos_dict.get(self.aero.success_key)
        judged = [None] * len(scores) if judged is None else judged
        correct = [
            scored_rollout_success(score, {self.aero.success_key: value}, self.aero)
            for score, value in zip(scores, judged, strict=True)
        ]
        metric_dict.update(pass_at_k_metrics(data_sources, sample_uids, correct))
        return metric_dict

    def _save_checkpoint(self):
        folder = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
        os.makedirs(folder, exist_ok=True)
        state = {
            "posterior": self.posterior.state_dict(),
            "cumulative": self.cumulative.state_dict(),
            "config": dataclasses.asdict(self.aero),
        }
        write_state_atomically(os.path.join(folder, STATE_FILE), state)
        # verl writes latest_checkpointed_iteration.txt last, so a checkpoint it marks always has our state.
        super()._save_checkpoint()

    def _load_checkpoint(self):
        super()._load_checkpoint()
        if self.global_steps == 0:
            return
        trainer = self.config.trainer
        if trainer.resume_mode == "resume_path":
            folder = trainer.resume_from_path
        else:
            folder = os.path.join(trainer.default_local_dir, f"global_step_{self.global_steps}")
        path = os.path.join(folder, STATE_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"resuming from {folder} but it has no {STATE_FILE}: the checkpoint was not written by the AERO "
                "trainer, so the posterior store and cumulative counters cannot be restored"
            )
        state = read_state(path)
        check_resumed_config(state.get("config"), self.aero, path)
        try:
            self.posterior.load_state_dict(state["posterior"])
            self.cumulative.load_state_dict(state["cumulative"])
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"AERO checkpoint state {path} is not usable: {error!r}") from error
        logger.info("restored AERO state from %s: %d prompts in the posterior store", path, len(self.posterior))


def prompt_keys(batch) -> list[str]:
    """The posterior store's key (``data_source/index``, as the sampler records it) of each prompt of verl's batch.

    verl's dataloader batch is a TensorDict whose non-tensor columns read back as lazy stacks; ``tu.get`` turns a
    column into a plain list (or returns the tensor).
    """
    from verl.utils import tensordict_utils as tu

    sources, indices = tu.get(batch, "data_source"), tu.get(batch, "index")
    if isinstance(indices, torch.Tensor):
        indices = indices.tolist()
    return [f"{source}/{int(index)}" for source, index in zip(sources, indices, strict=True)]


def check_resumed_config(saved: dict | None, current: AeroConfig, path: str) -> None:
    """Refuses a resume whose ``algorithm.aero`` changes what the saved posterior means; warns about other changes.

    Raises:
        ValueError: naming the key, its saved and its new value, and the state file.
    """
    if saved is None:
        logger.warning("%s records no algorithm.aero config (saved by an older version): not checked", path)
        return
    now = dataclasses.asdict(current)
    changed = {key: (saved[key], now[key]) for key in now if key in saved and saved[key] != now[key]}
    for key in STATE_DEFINING_KEYS:
        if key in changed:
            old, new = changed[key]
            raise ValueError(
                f"resuming with algorithm.aero.{key}={new!r}, but the checkpoint's posterior ({path}) was built with "
                f"{key}={old!r}: its counts would mean something else; resume with the saved value or start anew"
            )
    for key, (old, new) in changed.items():
        logger.warning("resuming with algorithm.aero.%s=%r; the checkpoint %s was saved with %r", key, new, path, old)


def write_state_atomically(path: str, state: dict) -> None:
    """Writes ``state`` as JSON so that ``path`` holds either the old or the whole new state, never a part.

    Raises:
        OSError: naming ``path`` when it cannot be written (a full disk, no permission); the old state stays.
    """
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise OSError(error.errno, f"could not write the AERO checkpoint state {path}: {error.strerror}") from error
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_state(path: str) -> dict:
    """The AERO state saved at ``path``.

    Raises:
        ValueError: naming the file when it is truncated or not a JSON object.
    """
    try:
        with open(path) as f:
            state = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"AERO checkpoint state {path} is corrupt or truncated: {error}") from error
    if not isinstance(state, dict):
        raise ValueError(f"AERO checkpoint state {path} is not a JSON object")
    return state


def count_parameters(model_path: str) -> int:
    """The policy's parameter count, from its config alone (the model is built on the meta device)."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from verl.utils.fs import copy_to_local

    config = AutoConfig.from_pretrained(copy_to_local(model_path), trust_remote_code=False)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(parameter.numel() for parameter in model.parameters())
