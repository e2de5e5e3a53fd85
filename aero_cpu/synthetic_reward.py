"""Exact-match reward for the synthetic arithmetic task of the CPU demo (``aero_cpu.synthetic_arith``).

The task asks for a bare integer (``"12+34="`` -> ``"46"`` then ``<|im_end|>``), so verification is an exact
comparison of integers: the whole response, stripped of whitespace and of end-of-turn markers, must be one
integer equal to the ground truth. Anything else (extra words, a second number, an empty response) scores 0,
which keeps the reward binary and unambiguous, as AERO's success/failure stratification needs.

Use it with ``reward.custom_reward_function.path=<this file> reward.custom_reward_function.name=compute_score``.
"""

from __future__ import annotations

import re

_INTEGER = re.compile(r"[+-]?\d+")
# verl decodes responses with skip_special_tokens=True; the markers are stripped in case a caller does not.
_END_MARKERS = ("<|im_end|>", "<|endoftext|>")


def parse_integer(text: str | None) -> int | None:
    """Returns the integer that the whole response consists of, or None if it is anything else."""
    if text is None:
        return None
    stripped = text.strip()
    changed = True
    while changed:
        changed = False
        for marker in _END_MARKERS:
            if stripped.endswith(marker):
                stripped = stripped[: -len(marker)].rstrip()
                changed = True
    if not _INTEGER.fullmatch(stripped):
        return None
    return int(stripped)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict[str, float]:
    """verl custom reward: 1.0 when the response is exactly the ground-truth integer, else 0.0.

    Args:
        data_source: the row's ``data_source`` (not used; one task).
        solution_str: the decoded response.
        ground_truth: ``reward_model.ground_truth``, the answer as a decimal string.
        extra_info: the row's ``extra_info`` (not used).
        **kwargs: other arguments verl's reward manager passes (ignored).

    Returns:
        ``{"score": s, "acc": s}`` with s in {0.0, 1.0}; ``acc`` is the success key AERO stratifies on.

    Raises:
        ValueError: if ``ground_truth`` is not an integer (a data bug, never a model error).
    """
    truth = parse_integer(str(ground_truth))
    if truth is None:
        raise ValueError(
            f"synthetic_reward: ground_truth {ground_truth!r} (data_source {data_source!r}) is not an integer"
        )
    score = float(parse_integer(solution_str) == truth)
    return {"score": score, "acc": score}
