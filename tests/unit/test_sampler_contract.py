"""AeroReplayBuffer's training path against a stand-in TransferQueue: what reaches the update, what is counted.

verl's real ``ReplayBuffer.sample`` loop runs over a listing of three prompts: ``ok`` (finished, mixed), ``bad``
(its rollout loop ended in ``failure`` after writing two rows) and ``nan`` (finished, one rollout scored NaN). The
independent observation is the stand-in store itself: which keys the sampler cleared and which it handed on.
"""

import logging
import math

import numpy as np
import pytest
import torch
import transfer_queue
from omegaconf import OmegaConf

from recipe.aero import sampler
from recipe.aero.accounting import step_metrics
from recipe.aero.agent_loop import ABORT_FAILED_TAG, ABORTED_TAG, FAILURE_TAG
from recipe.aero.core.config import AeroConfig
from recipe.aero.sampler import AeroReplayBuffer, NothingToTrain, TrainingStopped, key_session, key_uid

# key -> (score, acc); scores are shaped (acc + 0.1) so that a score-based success would call every row correct.
ROWS = {
    "ok_0_0": (1.1, 1.0),
    "ok_1_0": (0.1, 0.0),
    "ok_2_0": (0.1, 0.0),
    "ok_3_0": (0.1, 0.0),
    "bad_0_0": (1.1, 1.0),
    "bad_1_0": (0.1, 0.0),
    "nan_0_0": (float("nan"), 0.0),
    "nan_1_0": (1.1, 1.0),
    "nan_2_0": (0.1, 0.0),
    "nan_3_0": (0.1, 0.0),
}
STATUS = {"ok": "finished", "bad": "failure", "nan": "finished"}
PROMPT_TAGS: dict[str, dict] = {}  # extra fields of a prompt's terminal tag (the rescue race's aborted siblings)


class _Scores:
    def __init__(self, values):
        self.values = values

    def to_padded_tensor(self, _pad):
        return torch.tensor(self.values, dtype=torch.float64).unsqueeze(-1)


@pytest.fixture
def store(monkeypatch):
    cleared: list[str] = []

    def kv_list(partition_id=None):
        prompts = {
            uid: {"is_prompt": True, "status": s, "global_steps": 1, **PROMPT_TAGS.get(uid, {})}
            for uid, s in STATUS.items()
        }
        rows = {key: {"prompt_len": 3, "response_len": 5} for key in ROWS if key not in cleared}
        return {"train": {**prompts, **rows}}

    def kv_batch_get(keys, partition_id, select_fields):
        return {
            "rm_scores": _Scores([ROWS[k][0] for k in keys]),
            "extra_fields": [{"reward_extra_info": {"acc": ROWS[k][1]}} for k in keys],
            "data_source": ["ds"] * len(keys),
            "index": [hash(k.split("_")[0]) % 1000 for k in keys],
        }

    monkeypatch.setattr(transfer_queue, "kv_list", kv_list)
    monkeypatch.setattr(transfer_queue, "kv_batch_get", kv_batch_get)
    monkeypatch.setattr(transfer_queue, "kv_clear", lambda keys, partition_id: cleared.extend(keys))
    return cleared


def _buffer(**aero):
    return AeroReplayBuffer(
        aero=AeroConfig(**{"n_explore": 4, "budget": 4, **aero}),
        curate=True,
        poll_interval=0.0,
        trainer_mode="sync",
        trainer_config=OmegaConf.create({}),
        max_off_policy_threshold=None,
        max_off_policy_strategy="drop",
        sampler_kwargs=OmegaConf.create({}),
    )


def test_failed_prompt_and_nonfinite_score_never_reach_the_update(store):
    buffer = _buffer()
    batch, _ = buffer.sample(global_steps=1, partition_id="train", batch_size=3)
    record = buffer.last_record

    assert not {"bad_0_0", "bad_1_0", "nan_0_0"} & set(batch.keys)
    assert {"bad_0_0", "bad_1_0", "nan_0_0"} <= set(store)  # removed from the store, not masked
    assert set(record.uids) == {"ok", "nan"}
    assert (record.failed_prompts, record.failed_rollouts, record.nonfinite_scores) == (1, 3, 1)
    assert np.isfinite(record.score).all()
    # The key the sampler reports for each row is the row the store holds: 4 + 3 usable rollouts.
    assert sorted(record.keys) == sorted(k for k in ROWS if k.split("_")[0] != "bad" and k != "nan_0_0")
    # Success is the reward's acc, never score > 0 (every shaped score is > 0).
    by_key = dict(zip(record.keys, record.success.tolist(), strict=True))
    assert by_key == {k: bool(ROWS[k][1]) for k in record.keys}
    # Curation: 'ok' is low-success (1 of 4): keep the correct one and one incorrect one; the rest are cleared.
    kept = set(record.keys_kept)
    assert set(batch.keys) == kept and len([k for k in kept if k.startswith("ok_")]) == 2
    assert all(k in store for k in record.keys if k not in kept)


def test_all_failed_groups_are_counted_even_without_rows(store, monkeypatch):
    monkeypatch.setitem(STATUS, "nan", "failure")
    buffer = _buffer()
    buffer.sample(global_steps=1, partition_id="train", batch_size=3)
    record = buffer.last_record
    assert record.failed_prompts == 2 and record.failed_rollouts == 6
    assert set(record.uids) == {"ok"} and math.isclose(record.n_generated.sum(), 4)


def test_nothing_to_train_is_reported_with_the_record_and_an_empty_store(store, monkeypatch):
    # 'ok' becomes all-wrong: with the failed and NaN prompts and degenerate_keep=0 nothing is left to train.
    for key in ("ok_0_0", "nan_1_0"):
        monkeypatch.setitem(ROWS, key, (0.1, 0.0))
    buffer = _buffer(degenerate_keep=0)
    with pytest.raises(NothingToTrain, match="nothing to train") as skipped:
        buffer.sample(global_steps=1, partition_id="train", batch_size=3)
    # Every rollout travels in the skipped step's batch, which verl's fit() clears (it refuses an empty key list).
    assert sorted(skipped.value.batch.keys) == sorted(ROWS)
    record = buffer.last_record
    assert not record.kept.any() and set(record.uids) == {"ok", "nan"}
    assert not set(ROWS) & set(store)


def test_aborted_race_siblings_are_counted_from_the_prompt_tag_and_never_trained(store, monkeypatch):
    # 'race': 4 failed explorations, then a race of 4 whose first success (session 4) aborted sessions 6 and 7
    # (session 5 ended by itself). Aborted siblings have no row; the prompt's terminal tag lists them with their
    # prompt and response tokens (7 had not started: no token).
    monkeypatch.setitem(STATUS, "race", "finished")
    monkeypatch.setitem(PROMPT_TAGS, "race", {ABORTED_TAG: [[6, 3, 2], [7, 3, 0]]})
    race = {f"race_{s}_0": (0.1, 0.0) for s in range(4)} | {"race_4_0": (1.1, 1.0), "race_5_0": (0.1, 0.0)}
    for key, value in race.items():
        monkeypatch.setitem(ROWS, key, value)
    buffer = _buffer(budget=8, rescue_race=True)
    batch, _ = buffer.sample(global_steps=1, partition_id="train", batch_size=4)
    record = buffer.last_record

    group = record.uids.index("race")
    assert (record.n_generated[group], record.n_correct[group]) == (6, 1)
    assert record.aborted_uids == ["race", "race"] and record.aborted_sessions.tolist() == [6, 7]
    assert record.failed_rollouts == 3 and record.nonfinite_scores == 1  # 'bad' and 'nan' as before, not the race
    metrics = step_metrics(record)
    assert metrics["aero/race/aborted_rollouts"] == 2
    assert metrics["aero/race/aborted_response_tokens"] == 2
    # the aborted tokens were spent, and so were the 3 removed rows' ('bad' x 2, 'nan'): 5 response, 3 prompt each
    assert metrics["aero/gen/response_tokens"] == 5 * (len(record.keys) + 3) + 2
    assert metrics["aero/gen/prompt_tokens"] == 3 * (len(record.keys) + 3 + 2)
    assert metrics["aero/failed/response_tokens"] == 5 * 3
    assert metrics["aero/gen/rollouts"] == len(record.keys)  # completed rollouts only
    row = next(row for row in record.group_rows(step=1) if row["prompt"] == record.prompt_keys[group])
    assert row["sessions"] == [0, 1, 2, 3, 4, 5] and row["aborted_sessions"] == [6, 7]
    assert all(key_uid(key) != "race" or key_session(key) < 6 for key in batch.keys)


def test_race_siblings_whose_abort_never_landed_are_counted_and_warned_about_once(store, monkeypatch, caplog):
    # 'ok' and 'nan' each had race siblings that could not be aborted (they ran on and are rows like any other).
    monkeypatch.setitem(PROMPT_TAGS, "ok", {ABORT_FAILED_TAG: [2, 3]})
    monkeypatch.setitem(PROMPT_TAGS, "nan", {ABORT_FAILED_TAG: [1]})
    buffer = _buffer(rescue_race=True)
    with caplog.at_level(logging.WARNING, logger=sampler.__name__):
        buffer.sample(global_steps=1, partition_id="train", batch_size=3)
        first = buffer.last_record
        buffer.sample(global_steps=2, partition_id="train", batch_size=3)
    assert first.abort_failed == buffer.last_record.abort_failed == 3
    assert step_metrics(first)["aero/race/abort_failed"] == 3
    assert first.aborted_uids == [] and len(first.keys) == 7  # their rows are ordinary rollouts
    [warning] = [r.getMessage() for r in caplog.records if "could not be aborted" in r.getMessage()]
    assert warning.startswith("step 1: 3 rescue-race sibling(s)") and "aero/race/abort_failed" in warning


def test_a_failed_prompts_aborted_siblings_count_as_failed_not_aborted(store, monkeypatch):
    monkeypatch.setitem(PROMPT_TAGS, "bad", {ABORTED_TAG: [[2, 3, 4]]})
    buffer = _buffer()
    buffer.sample(global_steps=1, partition_id="train", batch_size=3)
    assert buffer.last_record.aborted_uids == [] and buffer.last_record.failed_prompts == 1


def test_what_made_a_prompt_fail_is_recorded_from_its_terminal_tag(store, monkeypatch):
    monkeypatch.setitem(PROMPT_TAGS, "bad", {FAILURE_TAG: "ZeroDivisionError: division by zero"})
    buffer = _buffer()
    buffer.sample(global_steps=1, partition_id="train", batch_size=3)
    assert buffer.last_record.failure_causes == {"ZeroDivisionError: division by zero": 1}


def test_a_step_whose_every_prompt_failed_stops_the_run_naming_the_cause(store, monkeypatch):
    """No prompt wrote a row: verl's sampler would advise sync_refill_failed_groups; the run stops with the cause."""
    for key in list(ROWS):
        monkeypatch.delitem(ROWS, key)
    for uid in STATUS:
        monkeypatch.setitem(STATUS, uid, "failure")
        monkeypatch.setitem(PROMPT_TAGS, uid, {FAILURE_TAG: "KeyError: 'ground_truth'"})
    with pytest.raises(TrainingStopped) as stopped:
        _buffer().sample(global_steps=4, partition_id="train", batch_size=3)
    message = str(stopped.value)
    assert "step 4" in message and "every one of the 3 prompts failed" in message
    assert "KeyError: 'ground_truth' (3 prompts failed with KeyError)" in message
    assert "sync_refill_failed_groups" not in message


def test_a_step_emptied_by_nan_scores_is_a_failure_skip_naming_the_share(store, monkeypatch):
    for key in ROWS:
        monkeypatch.setitem(ROWS, key, (float("nan"), 0.0))
    with pytest.raises(NothingToTrain) as skipped:
        _buffer().sample(global_steps=1, partition_id="train", batch_size=3)
    assert skipped.value.caused_by_failures
    # 'bad' failed (2 rows); the other 8 rows scored NaN: 8 of the 10 rows written, 3 prompts in all
    assert "nothing to train among 10 rollouts of 3 prompts" in str(skipped.value)
    assert "1 prompt(s) failed" in str(skipped.value) and "8 of 10 rollouts (80%) scored NaN" in str(skipped.value)


def test_a_step_emptied_by_curation_is_not_a_failure_skip(store, monkeypatch):
    for key in ("ok_0_0", "nan_1_0"):  # every usable group all wrong, degenerate_keep=0 drops them
        monkeypatch.setitem(ROWS, key, (0.1, 0.0))
    with pytest.raises(NothingToTrain) as skipped:
        _buffer(degenerate_keep=0).sample(global_steps=1, partition_id="train", batch_size=3)
    assert not skipped.value.caused_by_failures
    assert "every one of the 2 remaining groups was dropped by curation" in str(skipped.value)
