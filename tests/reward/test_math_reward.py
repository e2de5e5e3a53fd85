"""The AERO math reward: extraction, equivalence through math_verify in worker processes, timeouts and errors.

Runs the real verifier pool (child processes with sympy); the pathological input really hangs sympy, so the timeout
test checks that the deadline, not the input, bounds the call.
"""

import threading
import time

import pytest

from recipe.aero.reward import math_reward
from recipe.aero.reward.extract import extract_final_answer, last_answer_line, last_boxed_content
from recipe.aero.reward.verifier import VerifierPool, VerifyError, VerifyTimeout


class TestExtraction:
    def test_last_box_with_nested_braces(self):
        assert last_boxed_content("first \\boxed{1}, finally \\boxed{\\frac{1}{2}}.") == "\\frac{1}{2}"

    def test_truncated_last_box_is_no_answer(self):
        assert last_boxed_content("\\boxed{1} then \\boxed{\\frac{1}{2}") is None

    def test_fbox_and_space_form(self):
        assert last_boxed_content("\\fbox{7}") == "7"
        assert last_boxed_content("so $\\boxed 5$.") == "5"
        assert last_boxed_content("\\boxed 12 apples") == "12"

    def test_answer_line_dapo_style(self):
        assert last_answer_line("work...\nAnswer: $42$\n") == "42"
        assert last_answer_line("no final line") is None

    def test_markdown_answer_line(self):
        assert last_answer_line("**Answer:** $\\frac{1}{2}$.") == "\\frac{1}{2}"

    def test_whitespace_heavy_response_is_linear(self):
        """A regression guard: the first pattern backtracked cubically (16 s here, minutes at 5,000 lines)."""
        start = time.monotonic()
        assert extract_final_answer("\n" * 5000 + " " * 5000 + "answer" + " " * 5000) is None
        assert time.monotonic() - start < 5.0

    def test_box_preferred_over_answer_line(self):
        assert extract_final_answer("Answer: 3\nactually \\boxed{4}") == "4"
        assert extract_final_answer("Answer: 3") == "3"
        assert extract_final_answer("nothing here") is None


def _score(response, truth, **kwargs):
    return math_reward.compute_score("math500", response, truth, extra_info={"index": 0}, **kwargs)


@pytest.mark.parametrize(
    "response, truth",
    [
        ("So the answer is \\boxed{0.5}.", "\\frac{1}{2}"),
        ("\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{1/2}", "\\dfrac{1}{2}"),
        ("The length is \\boxed{5 \\text{ cm}}", "5"),
        ("\\boxed{5}", "5\\text{ cm}"),
        ("\\boxed{x^2+1}", "1+x^2"),
        ("\\boxed{42}", "42"),
        ("Work.\nAnswer: 42", "42"),
        ("\\boxed{\\sqrt{2}/2}", "\\frac{\\sqrt{2}}{2}"),
        ("\\boxed{12}", "$12$"),
    ],
)
def test_equivalent_answers_score_one(response, truth):
    result = _score(response, truth)
    assert result == {"score": 1.0, "acc": 1.0, "pred": extract_final_answer(response), "reward_error": 0.0}


@pytest.mark.parametrize(
    "response, truth",
    [
        ("\\boxed{0.6}", "\\frac{1}{2}"),
        ("\\boxed{4}", "5"),
        ("I think it is 5 but I will not box it", "5"),
        ("\\boxed{x^2-1}", "1+x^2"),
        ("", "5"),
    ],
)
def test_wrong_or_missing_answers_score_zero(response, truth):
    result = _score(response, truth)
    assert result["score"] == 0.0 and result["acc"] == 0.0 and result["reward_error"] == 0.0


def test_any_data_source_is_accepted():
    for source in ["amc23", "minerva", "olympiadbench", "some/new_benchmark"]:
        assert math_reward.compute_score(source, "\\boxed{3}", "3")["score"] == 1.0


def test_pathological_input_times_out_scores_zero_and_is_counted():
    before = math_reward.failure_counts().get("timeout", 0)
    _score("\\boxed{1}", "1")  # warm the pool so the bound below measures the deadline, not process start-up
    start = time.monotonic()
    result = _score("\\boxed{9^{9^{9^{9}}}}", "1", timeout_s=1.0)
    elapsed = time.monotonic() - start
    assert result["score"] == 0.0 and result["acc"] == 0.0 and result["reward_error"] == 1.0
    assert elapsed < 10.0
    assert math_reward.failure_counts()["timeout"] == before + 1
    assert _score("\\boxed{0.5}", "\\frac{1}{2}")["score"] == 1.0  # the killed worker is replaced


def test_concurrent_calls_from_threads():
    """verl calls sync reward functions from executor threads; signal-based timeouts would raise there."""
    results = [None] * 8

    def call(slot):
        results[slot] = _score(f"\\boxed{{{slot}/2}}", f"\\frac{{{slot}}}{{2}}")["score"]

    threads = [threading.Thread(target=call, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [1.0] * 8


def test_verifier_error_scores_zero_and_is_counted(monkeypatch):
    class FailingPool:
        def equivalent(self, gold, pred, timeout_s):
            raise VerifyError("sympy exploded")

    monkeypatch.setattr(math_reward, "shared_pool", lambda workers: FailingPool())
    before = math_reward.failure_counts().get("exception", 0)
    result = _score("\\boxed{2}", "3")
    assert result["score"] == 0.0 and result["reward_error"] == 1.0
    assert math_reward.failure_counts()["exception"] == before + 1


class TestVerifierPool:
    def test_timeout_kills_and_restarts_worker(self):
        pool = VerifierPool(num_workers=1)
        try:
            assert pool.equivalent("\\frac{1}{2}", "0.5", timeout_s=30.0)
            with pytest.raises(VerifyTimeout):
                pool.equivalent("1", "9^{9^{9^{9}}}", timeout_s=0.5)
            assert not pool.equivalent("1", "2", timeout_s=30.0)
        finally:
            pool.close()

    def test_rejects_empty_pool(self):
        with pytest.raises(ValueError, match="num_workers"):
            VerifierPool(num_workers=0)
