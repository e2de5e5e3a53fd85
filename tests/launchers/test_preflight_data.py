"""The preflight's data-schema check on real parquet files: a bad column of a train or validation file is refused
before Ray, naming the file, the column and the first bad rows with their values."""

import copy

import pytest
from omegaconf import open_dict

from aero_cpu.synthetic_arith import generate_splits, write_splits
from data_prep.common import columns_spec, convert_rows, write_parquet
from recipe.aero.data_schema import is_integer_id
from recipe.aero.preflight import PreflightError, compose_launch_config, validate_launch_config

REWARD = [
    "reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward",
    "reward.custom_reward_function.name=compute_score",
]


@pytest.fixture(scope="module")
def aero_fsdp():
    return compose_launch_config(["trainer.n_gpus_per_node=4", *REWARD])


def _records(rows: int = 3, split: str = "train") -> list[dict]:
    """Rows exactly as data_prep writes them: math_dapo, boxed template, indices 0..rows-1."""
    spec = columns_spec("math_dapo", "fixture", split, "problem", "answer")
    records, _ = convert_rows([{"problem": f"{i}+1?", "answer": str(i + 1)} for i in range(rows)], spec, "boxed", split)
    return records


def _write(directory, name: str, records: list[dict]) -> str:
    path = str(directory / name)
    write_parquet(records, path)
    return path


def _launch(cfg, tmp_path, train, val) -> list[str]:
    """Validates ``cfg`` with the given files and a local model directory; returns the warnings."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.data.train_files = train
        cfg.data.val_files = val
        cfg.actor_rollout_ref.model.path = str(tmp_path)
    return validate_launch_config(cfg, check_files=True)


def _launch_errors(cfg, tmp_path, train, val) -> list[str]:
    with pytest.raises(PreflightError) as raised:
        _launch(cfg, tmp_path, train, val)
    return raised.value.errors


def test_valid_files_pass(aero_fsdp, tmp_path):
    """data_prep's rows, the CPU demo's synthetic task (pandas writer) and a single-path val file all pass."""
    first = _write(tmp_path, "math_dapo.parquet", _records(4))
    synthetic = write_splits(generate_splits(5, 3, {"add1": 1.0}), tmp_path / "synthetic")
    val = _write(tmp_path, "math500.parquet", _records(2, split="test"))
    _launch(aero_fsdp, tmp_path, [first, str(synthetic["train"])], [val, str(synthetic["test"])])
    _launch(aero_fsdp, tmp_path, first, val)


def _prompt_as_text(records):
    for record in records:
        record["prompt"] = record["prompt"][0]["content"]


def _prompt_empty_or_without_content(records):
    records[1]["prompt"] = []
    records[2]["prompt"][0]["content"] = None


def _ground_truth_null(records):
    records[1]["reward_model"]["ground_truth"] = None


def _ground_truth_absent(records):
    for record in records:
        del record["reward_model"]["ground_truth"]


def _data_source_null_or_empty(records):
    records[1]["data_source"] = None
    records[2]["data_source"] = ""


def _data_source_absent(records):
    for record in records:
        del record["data_source"]


def _index_not_an_integer(records):
    for record, index in zip(records, ["q0", "1", "2"], strict=True):
        record["extra_info"]["index"] = index


def _index_fractional(records):
    for record, index in zip(records, [0.0, 1.5, 2.0], strict=True):
        record["extra_info"]["index"] = index


@pytest.mark.parametrize(
    ("corrupt", "column", "named"),
    [
        (_prompt_as_text, "prompt", ["row 0 = \"0+1? Let's think step by step and output the final answe..., row 1"]),
        (_prompt_empty_or_without_content, "prompt", ["row 1 = []", "row 2 = [{'role': 'user', 'content': None}]"]),
        (_ground_truth_null, "reward_model.ground_truth", ["1 of 3 row(s)", "row 1 = None"]),
        (_ground_truth_absent, "reward_model.ground_truth", ["is missing (reward_model has fields ['style'])"]),
        (_data_source_null_or_empty, "data_source", ["2 of 3 row(s)", "row 1 = None, row 2 = ''"]),
        (_data_source_absent, "data_source", ["column data_source is missing"]),
        (_index_not_an_integer, "extra_info.index", ["1 of 3 row(s)", "row 0 = 'q0'"]),
        (_index_fractional, "extra_info.index", ["1 of 3 row(s)", "row 1 = 1.5"]),
    ],
)
def test_bad_training_column_refused_naming_file_column_and_rows(aero_fsdp, tmp_path, corrupt, column, named):
    records = _records(3)
    corrupt(records)
    train = _write(tmp_path, "train.parquet", records)
    val = _write(tmp_path, "val.parquet", _records(2, split="test"))
    errors = _launch_errors(aero_fsdp, tmp_path, [train], val)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"data.train_files: {train}: column {column}"), errors[0]
    for text in named:
        assert text in errors[0], errors[0]


def test_bad_validation_row_refused_naming_the_validation_file(aero_fsdp, tmp_path):
    train = _write(tmp_path, "train.parquet", _records(3))
    val_records = _records(4, split="test")
    val_records[3]["reward_model"]["ground_truth"] = None
    val = _write(tmp_path, "val.parquet", val_records)
    errors = _launch_errors(aero_fsdp, tmp_path, train, [val])
    assert errors == [
        f"data.val_files: {val}: column reward_model.ground_truth must be present (not null), the reward's reference "
        "answer; 1 of 4 row(s) are not (0-based): row 3 = None"
    ]


def test_every_bad_file_and_column_is_reported(aero_fsdp, tmp_path):
    good = _write(tmp_path, "good.parquet", _records(3))
    bad_records = _records(3)
    _index_not_an_integer(bad_records)
    _ground_truth_null(bad_records)
    bad = _write(tmp_path, "bad.parquet", bad_records)
    val_records = _records(3, split="test")
    _data_source_null_or_empty(val_records)
    val = _write(tmp_path, "val.parquet", val_records)
    errors = _launch_errors(aero_fsdp, tmp_path, [good, bad], val)
    assert [error.split(" must be ")[0].split(" is missing")[0] for error in errors] == [
        f"data.train_files: {bad}: column reward_model.ground_truth",
        f"data.train_files: {bad}: column extra_info.index",
        f"data.val_files: {val}: column data_source",
    ]


def test_a_file_that_is_not_parquet_is_refused_by_name(aero_fsdp, tmp_path):
    train = _write(tmp_path, "train.parquet", _records(3))
    val = tmp_path / "val.parquet"
    val.write_text("data_source,prompt\n")
    errors = _launch_errors(aero_fsdp, tmp_path, train, str(val))
    assert len(errors) == 1 and errors[0].startswith(f"data.val_files: {val}: not a readable parquet file"), errors


def test_the_same_id_as_int_and_as_text_is_a_duplicate(aero_fsdp, tmp_path):
    """The trainer keys the posterior by int(index): index 1 in one file and "01" in another are one prompt."""
    numbers = _write(tmp_path, "numbers.parquet", _records(2))
    text_records = _records(2)
    for record, index in zip(text_records, ["01", "2"], strict=True):
        record["extra_info"]["index"] = index
    text = _write(tmp_path, "text.parquet", text_records)
    val = _write(tmp_path, "val.parquet", _records(2, split="test"))
    errors = _launch_errors(aero_fsdp, tmp_path, [numbers, text], val)
    assert len(errors) == 1 and "1 duplicated prompt id(s)" in errors[0], errors
    assert f"{numbers} row 1 (math_dapo/1)" in errors[0] and f"{text} row 0 (math_dapo/1)" in errors[0]


@pytest.mark.parametrize(
    ("index", "accepted"),
    [(7, True), (7.0, True), ("7", True), (" 7 ", True), ("-3", True), ("q0", False), ("7.0", False), (7.5, False)]
    + [(float("nan"), False), (True, False), (None, False), ([7], False)],
)
def test_integer_ids_are_what_int_converts_exactly(index, accepted):
    assert is_integer_id(index) is accepted
