"""Where a step's generation time goes (DESIGN.md §4): the exploration phase and the rescue tail.

Each rollout carries its round (0 = the prompt's first round) and the wall-clock times its generation started
and finished (stamped by the agent loop). The step waits for the last rollout of any prompt, so what AERO's rescue
adds to a step is the time from the last first-round rollout finishing to the last rescue rollout finishing, and
the number of rounds of the prompt that finished last.
"""

from __future__ import annotations

import numpy as np


def rounds_per_group(group_index: np.ndarray, round_index: np.ndarray, n_groups: int) -> np.ndarray:
    """int[n_groups]: the rounds each prompt ran, its highest round index + 1 (1 = the first round only). One race
    round of the whole remaining budget is one round, however many rollouts it launched."""
    rounds = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(rounds, np.asarray(group_index, dtype=np.int64), np.asarray(round_index, dtype=np.int64) + 1)
    return rounds


def generation_timing(
    group_index: np.ndarray, round_index: np.ndarray, started_at: np.ndarray, finished_at: np.ndarray
) -> dict[str, float]:
    """``aero/timing/*`` metrics of one step's rollouts (both arms; GRPO has round 0 only).

    Args:
        group_index: int[R], each rollout's prompt group.
        round_index: int[R], each rollout's round within its prompt (0 = first round).
        started_at: float[R], wall-clock start of each rollout's generation (s).
        finished_at: float[R], wall-clock end of each rollout's generation (s).

    Returns:
        ``explore_phase_s`` (first rollout start to last first-round rollout end), ``rescue_tail_s`` (last
        first-round end to last rollout end; 0 without rescue), ``generation_span_s`` (first start to last end),
        ``critical_path_rounds`` (rounds of the prompt whose rollout finished last) and ``max_rounds`` (most rounds
        of any prompt). All 0 for an empty step.
    """
    round_index = np.asarray(round_index, dtype=np.int64)
    started_at, finished_at = np.asarray(started_at, dtype=np.float64), np.asarray(finished_at, dtype=np.float64)
    if len(round_index) == 0:
        names = ("explore_phase_s", "rescue_tail_s", "generation_span_s", "critical_path_rounds", "max_rounds")
        return {f"aero/timing/{name}": 0.0 for name in names}
    group_index = np.asarray(group_index, dtype=np.int64)
    first = round_index == 0
    start, end = started_at.min(), finished_at.max()
    explore_end = finished_at[first].max() if first.any() else start
    rounds = rounds_per_group(group_index, round_index, int(group_index.max()) + 1)
    last = int(np.argmax(finished_at))
    return {
        "aero/timing/explore_phase_s": float(explore_end - start),
        "aero/timing/rescue_tail_s": float(max(end - explore_end, 0.0)),
        "aero/timing/generation_span_s": float(end - start),
        "aero/timing/critical_path_rounds": float(rounds[group_index[last]]),
        "aero/timing/max_rounds": float(rounds.max()),
    }
