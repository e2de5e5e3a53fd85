"""AeroReplayBuffer polls training batches every ``poll_interval`` but validation batches no faster than verl's 2 s.

Validation lists every TransferQueue key per poll (six eval sets x 8 samples, ~25k keys) while generation takes
minutes, so a 50 ms poll there only loads the TransferQueue controller. The test drives verl's real
``ReplayBuffer.sample`` loop for the ``val`` partition against a stand-in TransferQueue listing (the prompt is
``running`` for three polls, then ``finished``) and records every ``time.sleep`` the loop makes.
"""

import time

import pytest
import transfer_queue
from omegaconf import OmegaConf

from recipe.aero.core.config import AeroConfig
from recipe.aero.sampler import VERL_POLL_INTERVAL_S, AeroReplayBuffer

TRAIN_POLL_S = 0.05


@pytest.fixture
def buffer():
    return AeroReplayBuffer(
        aero=AeroConfig(),
        curate=True,
        poll_interval=TRAIN_POLL_S,
        trainer_mode="sync",
        trainer_config=OmegaConf.create({}),
        max_off_policy_threshold=None,
        max_off_policy_strategy="drop",
        sampler_kwargs=OmegaConf.create({}),
    )


@pytest.fixture
def sleeps(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def test_verl_default_poll_interval_is_two_seconds():
    assert VERL_POLL_INTERVAL_S == 2.0


def test_validation_sampling_polls_at_verl_interval(buffer, sleeps, monkeypatch):
    polls = []

    def kv_list():
        polls.append(1)
        status = "running" if len(polls) <= 3 else "finished"
        prompt = {"is_prompt": True, "status": status, "global_steps": 0}
        trajectories = {} if status == "running" else {"u1_0_0": {"prompt_len": 3, "response_len": 5}}
        return {"val": {"u1": prompt, **trajectories}}

    cleared = []
    monkeypatch.setattr(transfer_queue, "kv_list", kv_list)
    monkeypatch.setattr(transfer_queue, "kv_clear", lambda keys, partition_id: cleared.append((partition_id, keys)))

    batch, _ = buffer.sample(global_steps=0, partition_id="val", batch_size=1)

    assert list(batch.keys) == ["u1_0_0"] and cleared == [("val", ["u1"])]
    assert len(polls) == 4
    # Three waits, each topped up to verl's interval: (2.0 - 0.05) by the AERO buffer, then verl's own 0.05.
    assert sleeps == pytest.approx([VERL_POLL_INTERVAL_S - TRAIN_POLL_S, TRAIN_POLL_S] * 3)
    assert sum(sleeps) == pytest.approx(3 * VERL_POLL_INTERVAL_S)


def test_training_polls_keep_the_short_interval(buffer, sleeps):
    buffer._wait_for_next_poll("train", time.time())
    assert sleeps == [TRAIN_POLL_S]


def test_slower_training_interval_is_not_shortened_for_validation(buffer, sleeps):
    buffer.poll_interval = 5.0
    buffer._wait_for_next_poll("val", time.time())
    assert sleeps == [5.0]
