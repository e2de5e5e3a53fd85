"""The synthetic arithmetic task: verl schema, unique ids, held-out eval, exact difficulty mix, seeded."""

import pandas as pd
import pytest

from aero_cpu import synthetic_arith as sa
from aero_cpu.synthetic_reward import compute_score

MIX = {"add1": 0.25, "add21": 0.25, "add2": 0.3, "mul2": 0.2}


def test_same_seed_same_rows_and_other_seed_other_rows():
    first = sa.generate_splits(200, 40, MIX, seed=3)
    assert first == sa.generate_splits(200, 40, MIX, seed=3)
    other = sa.generate_splits(200, 40, MIX, seed=4)
    assert [r["prompt"] for r in first["train"]] != [r["prompt"] for r in other["train"]]


def test_rows_follow_verl_schema_and_answers_are_correct():
    splits = sa.generate_splits(100, 20, MIX, seed=0)
    for split_name, rows in (("train", splits["train"]), ("test", splits["test"])):
        for i, row in enumerate(rows):
            assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
            assert row["data_source"] == sa.DATA_SOURCE
            assert row["prompt"] == [{"role": "user", "content": row["extra_info"]["question"]}]
            assert row["reward_model"]["style"] == "rule"
            assert row["extra_info"]["split"] == split_name and row["extra_info"]["index"] == i
            question = row["extra_info"]["question"]
            assert question.endswith("=") and len(question) <= 12
            truth = row["reward_model"]["ground_truth"]
            assert str(eval(question[:-1])) == truth  # the question is a plain integer expression
            assert compute_score(row["data_source"], truth, truth)["acc"] == 1.0


def test_ids_unique_problems_unique_and_eval_held_out():
    splits = sa.generate_splits(300, 60, MIX, seed=1)
    for rows in splits.values():
        assert len({r["extra_info"]["index"] for r in rows}) == len(rows)
        assert len({r["extra_info"]["question"] for r in rows}) == len(rows)
    train_questions = {r["extra_info"]["question"] for r in splits["train"]}
    assert not train_questions & {r["extra_info"]["question"] for r in splits["test"]}


@pytest.mark.parametrize("size", [7, 100, 333])
def test_difficulty_mix_is_exact_and_operands_in_range(size):
    rows = sa.generate_splits(size, 0, MIX, seed=2)["train"]
    counts = pd.Series([r["extra_info"]["difficulty"] for r in rows]).value_counts().to_dict()
    expected = sa.allocate_counts(MIX, size)
    assert sum(expected.values()) == size
    assert {k: v for k, v in expected.items() if v} == counts
    for name, share in MIX.items():
        assert abs(expected[name] - share * size) < 1
    for row in rows:
        level = sa.LEVELS[row["extra_info"]["difficulty"]]
        a, b = (int(x) for x in row["extra_info"]["question"][:-1].split(level.op))
        assert level.a_range[0] <= a <= level.a_range[1] and level.b_range[0] <= b <= level.b_range[1]


def test_eval_mix_can_differ_from_train_mix():
    splits = sa.generate_splits(50, 10, MIX, eval_mix={"add3": 1.0}, seed=0)
    assert {r["extra_info"]["difficulty"] for r in splits["test"]} == {"add3"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("add9=1", "unknown difficulty"),
        ("add1=1,add1=2", "twice"),
        ("add1", "level=weight"),
        ("add1=-1", "negative"),
        ("add1=0", "no positive"),
        ("add1=x", "not a number"),
    ],
)
def test_bad_mix_is_refused_with_the_entry_named(text, message):
    with pytest.raises(ValueError, match=message):
        sa.parse_mix(text)


def test_too_many_rows_for_a_small_level_is_refused():
    with pytest.raises(ValueError, match="'add1' has only"):
        sa.generate_splits(101, 0, {"add1": 1.0}, seed=0)


def test_sft_examples_never_contain_eval_problems_and_are_seeded():
    splits = sa.generate_splits(50, 40, {"add1": 1.0}, seed=0)
    held_out = {r["extra_info"]["question"] for r in splits["test"]}
    pairs = sa.sft_examples(500, {"add1": 0.5, "add2": 0.5}, exclude=splits["test"], seed=0)
    assert len(pairs) == 500 and not held_out & {q for q, _ in pairs}
    assert all(str(eval(q[:-1])) == a for q, a in pairs)
    assert pairs == sa.sft_examples(500, {"add1": 0.5, "add2": 0.5}, exclude=splits["test"], seed=0)


def test_noisy_sft_labels_are_right_at_the_level_rate_and_otherwise_a_near_miss():
    """Only the labels change: the same questions in the same order, each level's labels right at its rate."""
    splits = sa.generate_splits(50, 40, {"add1": 1.0}, seed=0)
    mix, accuracy = {"add1": 0.5, "add2": 0.5}, {"add1": 0.9, "add2": 0.3}
    exact = sa.sft_examples(4000, mix, exclude=splits["test"], seed=0)
    noisy = sa.sft_examples(4000, mix, exclude=splits["test"], seed=0, label_accuracy=accuracy)
    assert [q for q, _ in noisy] == [q for q, _ in exact]
    for level, rate in accuracy.items():
        pairs = [
            (q, int(a))
            for q, a in noisy
            if sa.LEVELS[level].a_range[0] <= int(q.split("+")[0]) <= sa.LEVELS[level].a_range[1]
        ]
        right = [eval(q[:-1]) == a for q, a in pairs]
        assert abs(sum(right) / len(right) - rate) < 0.03, (level, sum(right) / len(right))
        assert all(0 < abs(eval(q[:-1]) - a) <= 2 and a >= 0 for q, a in pairs if eval(q[:-1]) != a)
    assert noisy == sa.sft_examples(4000, mix, exclude=splits["test"], seed=0, label_accuracy=accuracy)


def test_restate_slip_keeps_the_right_number_after_the_question_and_the_reward_rejects_it():
    """The same questions as near-miss slips; a wrong label is the question restated before the right number."""
    splits = sa.generate_splits(50, 40, {"add1": 1.0}, seed=0)
    mix, accuracy = {"add1": 0.5, "add2": 0.5}, {"add1": 0.9, "add2": 0.3}
    near = sa.sft_examples(4000, mix, exclude=splits["test"], seed=0, label_accuracy=accuracy)
    restated = sa.sft_examples(4000, mix, exclude=splits["test"], seed=0, label_accuracy=accuracy, slip="restate")
    assert [q for q, _ in restated] == [q for q, _ in near]
    for level, rate in accuracy.items():
        low, high = sa.LEVELS[level].a_range
        pairs = [(q, a) for q, a in restated if low <= int(q.split("+")[0]) <= high]
        right = [a == str(eval(q[:-1])) for q, a in pairs]
        assert abs(sum(right) / len(right) - rate) < 0.03, (level, sum(right) / len(right))
        slipped = [(q, a) for (q, a), ok in zip(pairs, right, strict=True) if not ok]
        assert all(a == q + str(eval(q[:-1])) for q, a in slipped)
        assert all(compute_score(sa.DATA_SOURCE, a, str(eval(q[:-1])))["acc"] == 0.0 for q, a in slipped)
    with pytest.raises(ValueError, match="unknown label slip 'typo'"):
        sa.sft_examples(10, mix, exclude=[], seed=0, slip="typo")


@pytest.mark.parametrize("text, message", [("add1=1.5", "above 1"), ("add9=0.5", "unknown"), ("add1=-0.1", "negative")])
def test_bad_label_accuracy_is_refused_with_the_entry_named(text, message):
    with pytest.raises(ValueError, match=message):
        sa.parse_label_accuracy(text)


def test_cli_writes_parquet_that_round_trips(tmp_path):
    sa.main(["--out", str(tmp_path), "--train-size", "30", "--eval-size", "10", "--mix", "add1=1,add2=2"])
    train = pd.read_parquet(tmp_path / "train.parquet")
    test = pd.read_parquet(tmp_path / "test.parquet")
    assert len(train) == 30 and len(test) == 10
    assert list(train.iloc[0]["prompt"])[0]["role"] == "user"
    assert train.iloc[0]["reward_model"]["style"] == "rule"
