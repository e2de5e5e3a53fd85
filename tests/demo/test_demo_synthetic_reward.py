"""Exact-match reward of the synthetic arithmetic task."""

import pytest

from aero_cpu.synthetic_reward import compute_score, parse_integer


@pytest.mark.parametrize(
    "response, truth, expected",
    [
        ("46", "46", 1.0),
        (" 46\n", "46", 1.0),
        ("46<|im_end|>", "46", 1.0),
        ("046", "46", 1.0),
        ("-7", "-7", 1.0),
        ("47", "46", 0.0),
        ("4", "46", 0.0),
        ("466", "46", 0.0),
        ("46 47", "46", 0.0),
        ("The answer is 46", "46", 0.0),
        ("46.0", "46", 0.0),
        ("", "46", 0.0),
        (None, "46", 0.0),
    ],
)
def test_exact_match_on_the_whole_response(response, truth, expected):
    result = compute_score("synthetic_arith", response, truth, extra_info={"index": 0})
    assert result == {"score": expected, "acc": expected}


def test_non_integer_ground_truth_is_a_data_error():
    with pytest.raises(ValueError, match="ground_truth"):
        compute_score("synthetic_arith", "1", "one")


def test_parse_integer():
    assert parse_integer("12<|endoftext|>") == 12
    assert parse_integer("1 2") is None
