"""The AERO math reward: final-answer extraction + math_verify equivalence under a hard deadline.

Configure with ``reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward`` and
``reward.custom_reward_function.name=compute_score``; it accepts every ``data_source`` (train and eval alike), so no
name can reach verl's ``NotImplementedError``. Optional ``reward.custom_reward_function.reward_kwargs``:
``timeout_s`` (default 10) and ``verifier_workers`` (default 2 per reward worker process).

The returned dict's extra keys reach verl's ``reward_extra_info``: ``acc`` (AERO's success key), ``pred`` and
``reward_error`` (1 when the verifier timed out or raised; the sample then scores 0), so failures are visible as
metrics and are also counted in :func:`failure_counts` and logged.
"""

import collections
import logging
import re
import threading

from recipe.aero.reward.extract import extract_final_answer
from recipe.aero.reward.verifier import VerifyTimeout, shared_pool

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_VERIFIER_WORKERS = 2
_PRED_CHARS = 200  # predictions are logged per sample; very long ones are truncated

_failures: collections.Counter = collections.Counter()
_failures_lock = threading.Lock()
_TRIVIAL_NOISE = re.compile(r"\s+|\$|\\!|\\,|\\left|\\right")


def failure_counts() -> dict[str, int]:
    """Timeouts and verifier exceptions seen by this process so far: ``{"timeout": n, "exception": m}``."""
    with _failures_lock:
        return dict(_failures)


def _record_failure(kind: str, data_source: str, detail: str) -> None:
    with _failures_lock:
        _failures[kind] += 1
        counts = dict(_failures)
    logger.warning("math reward %s for data_source=%s (%s); totals so far %s", kind, data_source, detail, counts)


def _normalise(answer: str) -> str:
    """Removes only formatting that never changes a value (spaces, ``$``, spacing and sizing commands)."""
    return _TRIVIAL_NOISE.sub("", answer).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").rstrip(".")


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    verifier_workers: int = DEFAULT_VERIFIER_WORKERS,
    **kwargs,
) -> dict:
    """Scores one response 1.0 when its final answer equals ``ground_truth``, else 0.0.

    Args:
        data_source: Any dataset name (only used in log messages).
        solution_str: The decoded response.
        ground_truth: The reference answer (LaTeX or plain).
        extra_info: verl's per-sample info (unused).
        timeout_s: Wall-clock deadline of the equivalence check; a miss scores 0 and sets ``reward_error``.
        verifier_workers: Size of this process's verifier pool (fixed by the first call).
        **kwargs: Other keys verl passes (reward router address, ...); ignored.

    Returns:
        ``{"score": 0/1, "acc": 0/1, "pred": extracted answer or "", "reward_error": 0/1}``.
    """
    pred = extract_final_answer(solution_str or "")
    result = {"score": 0.0, "acc": 0.0, "pred": (pred or "")[:_PRED_CHARS], "reward_error": 0.0}
    gold = str(ground_truth).strip().strip("$").strip()
    if pred is None or not gold:
        return result
    if _normalise(pred) == _normalise(gold):
        correct = True
    else:
        try:
            correct = shared_pool(verifier_workers).equivalent(gold, pred, timeout_s)
        except VerifyTimeout:
            _record_failure("timeout", data_source, f"deadline {timeout_s}s, pred {pred[:80]!r}")
            result["reward_error"] = 1.0
            return result
        except Exception as error:  # VerifyError, or OSError starting a worker: score 0, never crash the worker
            _record_failure("exception", data_source, f"{type(error).__name__}: {error}"[:200])
            result["reward_error"] = 1.0
            return result
    result["score"] = result["acc"] = float(correct)
    return result
