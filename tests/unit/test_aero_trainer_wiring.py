"""``AeroTrainer``'s own methods, without Ray: the wiring between verl's step and AERO's core.

verl's step runs for real (``PPOTrainer.step`` and ``_step_once``), with its expensive phases replaced by stand-ins
at verl's base class: the replay buffer hands over a hand-built step record, the old-log-prob and actor-update
calls only record what they were asked, and the advantage phase calls verl's own ``compute_advantage`` (so the
registered ``aero`` estimator runs under the trainer's group context) on the kept rows. Expected values are derived
by hand from the layouts below, never by calling the code under test.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from transfer_queue import KVBatchMeta
from verl import DataProto
from verl.trainer.ppo.ray_trainer import compute_advantage
from verl.trainer.ppo.v1 import trainer_base
from verl.trainer.ppo.v1.trainer_base import PPOTrainer

import recipe.aero.trainer as trainer_module
from aero_cpu.tiny_assets import build_all
from recipe.aero.accounting import CumulativeCounters, StepRecord
from recipe.aero.core.config import AeroConfig, AeroTrainerConfig, Arm
from recipe.aero.core.curation import curate_batch
from recipe.aero.core.posterior import PosteriorStore
from recipe.aero.core.strata import stratify
from recipe.aero.sampler import NothingToTrain, TrainingStopped
from recipe.aero.trainer import STATE_FILE, AeroTrainer, count_parameters, read_state

PROMPT_TOKENS, RESPONSE_TOKENS = 7, 3  # every rollout's lengths (per-key overrides below)


def build_record(groups: dict[str, list[int]], step: int, cfg: AeroConfig) -> StepRecord:
    """A step's record as the sampler builds it: ``groups`` maps a prompt id to its rollouts' successes, in order."""
    keys, uid_of, success, sessions = [], [], [], []
    for g, outcomes in enumerate(groups.values()):
        for session, hit in enumerate(outcomes):
            keys.append(f"u{step}x{g}_{session}_0")
            uid_of.append(g)
            success.append(bool(hit))
            sessions.append(session)
    group_index, success, sessions = np.array(uid_of), np.array(success), np.array(sessions)
    prompt_keys = list(groups)
    result = curate_batch(success, group_index, prompt_keys, step, cfg, rollout_ids=sessions)
    explore = sessions < cfg.n_explore
    n_explore_correct = np.bincount(group_index, weights=explore & success).astype(np.int64)
    n_explore_generated = np.bincount(group_index, weights=explore).astype(np.int64)
    return StepRecord(
        group_index=group_index,
        session=sessions,
        score=success + 0.1,  # shaped: every score > 0, so success must come from acc
        success=success,
        is_rescue=~explore,
        round_index=np.where(explore, 0, 1 + (sessions - cfg.n_explore) // cfg.n_extra),
        kept=result.keep,
        prompt_tokens=np.full(len(keys), PROMPT_TOKENS),
        response_tokens=np.full(len(keys), RESPONSE_TOKENS),
        uids=[f"u{step}x{g}" for g in range(len(groups))],
        prompt_keys=prompt_keys,
        n_generated=result.n_generated,
        n_correct=result.n_correct,
        n_explore_generated=n_explore_generated,
        n_explore_correct=n_explore_correct,
        stratum=stratify(n_explore_correct, n_explore_generated, cfg),
        keys=keys,
        keys_kept=[key for key, keep in zip(keys, result.keep, strict=True) if keep],
    )


class StandInReplayBuffer:
    """Hands the trainer one prepared record per step, as ``AeroReplayBuffer.sample`` would."""

    def __init__(self, records: list[StepRecord]):
        self.records = list(records)
        self.last_record: StepRecord | None = None

    def sample(self, global_steps, partition_id, batch_size):
        record = self.records.pop(0)
        if isinstance(record, NothingToTrain):  # the sampler's skip: the record of a step with nothing kept
            self.last_record = record.record
            raise record
        self.last_record = record
        keys = self.last_record.keys_kept
        tags = [{"prompt_len": PROMPT_TOKENS, "response_len": RESPONSE_TOKENS, "seq_len": 10} for _ in keys]
        return KVBatchMeta(partition_id="train", keys=list(keys), tags=tags), {}


class _Nested:
    def __init__(self, tensor):
        self.tensor = tensor

    def to_padded_tensor(self, _pad):
        return self.tensor


@pytest.fixture
def harness(monkeypatch, tmp_path):
    """A factory of trainers whose verl phases are stand-ins; ``calls`` records what verl was asked to do."""
    calls: dict[str, list] = {"update_actor": [], "advantages": {}}

    def fake_compute_advantage(self, batch, metrics):
        record = self.replay_buffer.last_record
        score = dict(zip(record.keys, record.score, strict=True))
        rewards = torch.zeros(len(batch.keys), RESPONSE_TOKENS)
        rewards[:, -1] = torch.tensor([score[key] for key in batch.keys], dtype=torch.float32)
        data = DataProto.from_dict(
            tensors={"token_level_rewards": rewards, "response_mask": torch.ones_like(rewards)},
            non_tensors={"uid": np.array([key.split("_")[0] for key in batch.keys], dtype=object)},
        )
        out = compute_advantage(data, adv_estimator=self.config.algorithm.adv_estimator, config=self.config.algorithm)
        for key, row in zip(batch.keys, out.batch["advantages"], strict=True):
            calls["advantages"][key] = row
        return batch

    def fake_update_actor(self, batch, metrics):
        actor, rollout = self.config.actor_rollout_ref.actor, self.config.actor_rollout_ref.rollout
        calls["update_actor"].append({"rows": len(batch), "mini_batch_rows": actor.ppo_mini_batch_size * rollout.n})
        return batch

    def fake_kv_batch_get(keys, partition_id, select_fields):
        return {"advantages": _Nested(torch.stack([calls["advantages"][key] for key in keys]))}

    monkeypatch.setattr(PPOTrainer, "prepare_step", lambda self: {})
    monkeypatch.setattr(PPOTrainer, "_balance_batch", lambda self, batch, metrics, **kw: self._pad(batch))
    monkeypatch.setattr(PPOTrainer, "_compute_old_log_prob", lambda self, batch, metrics: batch)
    monkeypatch.setattr(PPOTrainer, "_compute_advantage", fake_compute_advantage)
    monkeypatch.setattr(PPOTrainer, "_update_actor", fake_update_actor)
    monkeypatch.setattr(trainer_module.tq, "kv_batch_get", fake_kv_batch_get)
    monkeypatch.setattr(trainer_base, "marked_timer", _no_timer)
    model_dir = str(build_all().model_dir)

    def make(records, estimator="aero", ppo_epochs=2, mini_batch=2, train_batch=4, **aero):
        config = OmegaConf.create(
            {
                "algorithm": {"adv_estimator": estimator, "norm_adv_by_std_in_grpo": True, "aero": aero},
                "actor_rollout_ref": {
                    "actor": {"ppo_mini_batch_size": mini_batch, "ppo_epochs": ppo_epochs},
                    "rollout": {"n": 8, "temperature": 1.0},
                    "model": {"path": model_dir},
                },
                "data": {"train_batch_size": train_batch},
                "trainer": {"critic_warmup": 0, "default_local_dir": str(tmp_path / "ckpt"), "resume_mode": "auto"},
            }
        )
        trainer = object.__new__(_Trainer)
        trainer.config = config
        trainer.aero = AeroConfig.from_mapping(aero)
        trainer.arm = Arm.of(estimator, trainer.aero)
        trainer.posterior = PosteriorStore.from_config(trainer.aero)
        trainer.cumulative = CumulativeCounters()
        trainer.trainer_aero = AeroTrainerConfig()
        trainer.replay_buffer = StandInReplayBuffer(records)
        trainer.n_params = count_parameters(model_dir)
        trainer.num_mini_batches = train_batch // mini_batch
        trainer.group_log_path = None
        trainer.use_reference_policy = trainer.use_critic = False
        trainer.parameter_sync_step, trainer.global_steps = 1, 1
        trainer.reward_loop_manager = SimpleNamespace(reward_loop_worker_handles=["stand-in"])
        trainer._guidance_metrics, trainer._skipped_update = {}, False
        trainer._rows_to_train, trainer._update_plan, trainer._failed_steps_in_a_row = 0, None, 0
        return trainer

    make.calls = calls
    return make


class _Trainer(AeroTrainer):
    """The AERO trainer with verl's padding reproduced for one data-parallel rank (no worker group to ask)."""

    def on_sample_end(self):
        return None

    def _pad(self, batch):
        multiple = self._get_required_batch_multiple(dp_size=1)
        padding = -len(batch) % multiple
        tags = [*batch.tags, *({"is_padding": True} for _ in range(padding))]
        return KVBatchMeta(
            partition_id="train", keys=[*batch.keys, *(f"pad{i}_0_0" for i in range(padding))], tags=tags
        )


class _no_timer:
    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# Step 1: a failed rescue (8 wrong), a low-success group (1 of 4), an all-correct group, a high-success mixed group.
STEP_1 = {"src/0": [0] * 8, "src/1": [1, 0, 0, 0], "src/2": [1, 1, 1, 1], "src/3": [1, 1, 1, 0]}
# Step 2 revisits src/0 (rescued at its sixth rollout) and src/2 (all correct again).
STEP_2 = {"src/0": [0, 0, 0, 0, 0, 1], "src/2": [1, 1, 1, 1]}


def run_steps(trainer, n):
    logged = []
    for step in range(1, n + 1):
        trainer.global_steps = step
        metrics: dict = {}
        trainer.step(metrics, {})
        logged.append(metrics)
    return logged


def test_posterior_after_two_steps_holds_the_generated_counts_once_per_step(harness):
    """decay 0.5, prior Beta(1, 1), by hand: src/0 step 1 alpha 1, beta 1 + 8 = 9; step 2 decays beta to
    1 + 0.5 * 8 = 5 and adds 1 success of 6: (2, 10). src/2: (5, 1) -> decayed alpha 1 + 0.5 * 4 = 3, + 4: (7, 1).
    Kept counts (4 of src/0's 8) or a second update per step give other numbers."""
    cfg = AeroConfig()
    trainer = harness([build_record(STEP_1, 1, cfg), build_record(STEP_2, 2, cfg)])
    run_steps(trainer, 2)
    alpha, beta = trainer.posterior.counts(["src/0", "src/1", "src/2", "src/3"])
    assert alpha.tolist() == [2.0, 2.0, 7.0, 4.0]
    assert beta.tolist() == [10.0, 4.0, 1.0, 2.0]  # src/1 and src/3 only seen in step 1: (1 + 1, 1 + 3), (1 + 3, 1 + 1)


def test_step_flops_count_trained_tokens_and_the_real_models_parameters(harness):
    """Step 1 keeps 4 (src/0) + 2 (src/1) + 4 (src/2) + 4 (src/3) = 14 of its 20 rollouts; 10 tokens each."""
    from transformers import AutoModelForCausalLM

    cfg = AeroConfig()
    trainer = harness([build_record(STEP_1, 1, cfg)], ppo_epochs=2)
    model = AutoModelForCausalLM.from_pretrained(trainer.config.actor_rollout_ref.model.path)
    params = sum(p.numel() for p in model.parameters())
    assert trainer.n_params == params
    (metrics,) = run_steps(trainer, 1)
    trained_tokens, generated_tokens = 14 * (PROMPT_TOKENS + RESPONSE_TOKENS), 20 * (PROMPT_TOKENS + RESPONSE_TOKENS)
    assert metrics["aero/compute/update_flops"] == 6 * params * trained_tokens * 2  # 2 PPO epochs
    assert metrics["aero/compute/logprob_flops"] == 2 * params * trained_tokens  # old policy only, no reference
    assert metrics["aero/compute/gen_flops"] == 2 * params * generated_tokens
    assert metrics["aero/cumulative/total_flops"] == pytest.approx(2 * params * (trained_tokens * 7 + generated_tokens))


@pytest.mark.parametrize(("sizing", "mini_batches"), [("steps", 2), ("samples", 1)])
def test_the_update_is_split_as_its_sizing_says(harness, sizing, mini_batches):
    """GRPO's mini-batch: 2 prompts x budget 8 = 16 trajectories, 2 per epoch (train batch 4). 14 kept rows:
    `steps` takes 2 mini-batches of 7; `samples` round(14 / 16) = 1 of 14."""
    cfg = AeroConfig(update_sizing=sizing)
    trainer = harness([build_record(STEP_1, 1, cfg)], update_sizing=sizing)
    (metrics,) = run_steps(trainer, 1)
    (call,) = harness.calls["update_actor"]
    assert call == {"rows": 14, "mini_batch_rows": 14 // mini_batches}
    assert metrics["aero/update/optimizer_steps"] == mini_batches * 2
    assert trainer.config.actor_rollout_ref.actor.ppo_mini_batch_size == 2  # restored after the update
    assert trainer.config.actor_rollout_ref.rollout.n == 8


def test_dr_grpo_is_honoured_with_generated_statistics(harness):
    """norm_adv_by_std_in_grpo=False, advantage_stats=generated: a mixed group is centred on the mean of all its
    GENERATED scores and not divided. src/1 scores 1.1, 0.1, 0.1, 0.1 -> mean 0.35: kept rows 0.75 and -0.25."""
    cfg = AeroConfig(advantage_stats="generated")
    trainer = harness([build_record(STEP_1, 1, cfg)], advantage_stats="generated")
    trainer.config.algorithm.norm_adv_by_std_in_grpo = False
    run_steps(trainer, 1)
    record = trainer.replay_buffer.last_record
    rows = [i for i, key in enumerate(record.keys) if key.startswith("u1x1_") and record.kept[i]]
    got = sorted(float(harness.calls["advantages"][record.keys[i]][-1]) for i in rows)
    assert got == pytest.approx([-0.25, 0.75], abs=1e-6)


def test_validation_success_is_the_rewards_acc_grouped_by_prompt(harness):
    """Shaped rewards (acc + 0.1): judged by score every sample would be a success. Prompt p: 1 of 4 correct,
    prompt q: 0 of 4 -> Avg@4 = 1/8, Pass@4 = 1/2 by acc."""
    trainer = harness([])
    acc = [1, 0, 0, 0, 0, 0, 0, 0]
    metrics = trainer._val_metrics_update(
        ["ds"] * 8,
        ["p"] * 4 + ["q"] * 4,
        {"acc": acc, "reward": [a + 0.1 for a in acc]},
        [1] * 8,
    )
    assert metrics["aero_val/ds/avg@4"] == pytest.approx(1 / 8)
    assert metrics["aero_val/ds/pass@4"] == pytest.approx(1 / 2)


def test_validation_without_acc_uses_the_success_threshold(harness):
    trainer = harness([], success_threshold=0.5)
    metrics = trainer._val_metrics_update(["ds"] * 4, ["p"] * 4, {"reward": [0.1, 0.6, 0.4, 0.9]}, [1] * 4)
    assert metrics["aero_val/ds/avg@4"] == pytest.approx(0.5)


def _save(trainer, step, monkeypatch, verl_save):
    trainer.global_steps = step
    monkeypatch.setattr(PPOTrainer, "_save_checkpoint", verl_save)
    trainer._save_checkpoint()


def test_the_state_is_written_before_verls_latest_marker(harness, monkeypatch):
    cfg = AeroConfig()
    trainer = harness([build_record(STEP_1, 1, cfg)])
    run_steps(trainer, 1)
    root = Path(trainer.config.trainer.default_local_dir)
    seen = []

    def verl_save(self):  # verl writes the step's files, then latest_checkpointed_iteration.txt
        seen.append((root / f"global_step_{self.global_steps}" / STATE_FILE).is_file())
        (root / "latest_checkpointed_iteration.txt").write_text(str(self.global_steps))

    _save(trainer, 1, monkeypatch, verl_save)
    assert seen == [True]
    state = read_state(str(root / "global_step_1" / STATE_FILE))
    assert state["config"] == dataclasses.asdict(cfg)
    assert state["cumulative"]["gen_rollouts"] == 20


def test_a_failed_verl_save_leaves_the_latest_marker_at_the_previous_step(harness, monkeypatch, tmp_path):
    trainer = harness([])
    root = tmp_path / "ckpt"

    def verl_save(self):
        if self.global_steps == 2:
            raise OSError(28, "No space left on device")
        (root / "latest_checkpointed_iteration.txt").write_text(str(self.global_steps))

    _save(trainer, 1, monkeypatch, verl_save)
    with pytest.raises(OSError, match="No space left"):
        _save(trainer, 2, monkeypatch, verl_save)
    assert (root / "latest_checkpointed_iteration.txt").read_text() == "1"


def test_a_state_write_that_fails_names_the_file(harness, monkeypatch, tmp_path):
    trainer = harness([])

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer_module.json, "dump", full_disk)
    with pytest.raises(OSError, match=r"global_step_1/aero_state\.json.*No space left"):
        _save(trainer, 1, monkeypatch, lambda self: None)


def _resume(trainer, monkeypatch, step):
    def verl_load(self):
        self.global_steps = step

    monkeypatch.setattr(PPOTrainer, "_load_checkpoint", verl_load)
    trainer._load_checkpoint()


def test_resume_restores_the_state_and_refuses_a_missing_or_corrupt_one(harness, monkeypatch, tmp_path):
    cfg = AeroConfig()
    trainer = harness([build_record(STEP_1, 1, cfg)])
    run_steps(trainer, 1)
    _save(trainer, 1, monkeypatch, lambda self: None)
    resumed = harness([])
    _resume(resumed, monkeypatch, 1)
    assert resumed.posterior.state_dict() == trainer.posterior.state_dict()
    assert resumed.cumulative.totals == trainer.cumulative.totals
    with pytest.raises(FileNotFoundError, match="has no aero_state.json"):
        _resume(harness([]), monkeypatch, 2)
    (tmp_path / "ckpt" / "global_step_1" / STATE_FILE).write_text('{"posterior": ')
    with pytest.raises(ValueError, match="corrupt or truncated"):
        _resume(harness([]), monkeypatch, 1)


def test_resume_refuses_a_config_that_changes_what_the_posterior_means(harness, monkeypatch, caplog):
    trainer = harness([])
    _save(trainer, 1, monkeypatch, lambda self: None)
    with pytest.raises(ValueError, match=r"algorithm\.aero\.success_key='correct'.*success_key='acc'"):
        _resume(harness([], success_key="correct"), monkeypatch, 1)
    with pytest.raises(ValueError, match=r"algorithm\.aero\.prior_alpha"):
        _resume(harness([], prior_alpha=2.0), monkeypatch, 1)
    with caplog.at_level(logging.WARNING, logger="recipe.aero.trainer"):
        _resume(harness([], budget=16, seed=3), monkeypatch, 1)  # safe to change: warned, named
    assert "algorithm.aero.budget=16" in caplog.text and "algorithm.aero.seed=3" in caplog.text


def test_a_state_saved_without_its_config_is_resumed_with_a_warning(harness, monkeypatch, tmp_path, caplog):
    trainer = harness([])
    _save(trainer, 1, monkeypatch, lambda self: None)
    path = tmp_path / "ckpt" / "global_step_1" / STATE_FILE
    state = json.loads(path.read_text())
    del state["config"]
    path.write_text(json.dumps(state))
    with caplog.at_level(logging.WARNING, logger="recipe.aero.trainer"):
        _resume(harness([], budget=16), monkeypatch, 1)
    assert "records no algorithm.aero config" in caplog.text


def _skip(step: int, *, failures: bool) -> NothingToTrain:
    """A step the sampler could not fill: every rollout failed (NaN), or every group dropped by curation."""
    record = build_record({"src/9": [0, 0, 0, 0]}, step, AeroConfig())
    skip = NothingToTrain(
        f"step {step}: nothing to train",
        KVBatchMeta(partition_id="train", keys=[], tags=[]),
        caused_by_failures=failures,
    )
    skip.record = record
    return skip


def test_failure_skips_in_a_row_stop_the_run_and_a_trained_or_curation_step_resets_the_count(harness):
    """max_failed_steps 3: failure, failure, curation skip (resets), failure, trained step (resets), then three
    failures in a row: the run stops at the last, naming the count and the last skip's reason."""
    cfg = AeroConfig()
    records = [
        _skip(1, failures=True),
        _skip(2, failures=True),
        _skip(3, failures=False),
        _skip(4, failures=True),
        build_record(STEP_1, 5, cfg),
        _skip(6, failures=True),
        _skip(7, failures=True),
        _skip(8, failures=True),
    ]
    trainer = harness(records)
    logged = run_steps(trainer, 7)
    assert [m["aero/skipped_update"] for m in logged] == [1, 1, 1, 1, 0, 1, 1]
    trainer.global_steps = 8
    with pytest.raises(TrainingStopped, match=r"3 training steps in a row .*max_failed_steps=3.*step 8: nothing"):
        trainer.step({}, {})


def test_validation_judges_acc_against_the_success_threshold_as_training_does(harness):
    """A graded ``acc`` (0.3 / 0.7) with ``success_threshold=0.5``: training counts only 0.7 as a success
    (``core.strata.rollout_success``), so validation must too: Avg@4 = 1/4, not the 3/4 of ``acc > 0``."""
    trainer = harness([], success_threshold=0.5)
    metrics = trainer._val_metrics_update(
        ["ds"] * 4, ["p"] * 4, {"acc": [0.0, 0.3, 0.7, 0.3], "reward": [0.0, 0.3, 0.7, 0.3]}, [1] * 4
    )
    assert metrics["aero_val/ds/avg@4"] == pytest.approx(0.25)
