"""The rescue race on the real stack (verl + vLLM on CPU): siblings aborted at a prompt's first success are
counted, never trained, and no prompt launches more than its budget (DESIGN.md §2.3, ``rescue_race``).

Independent records: the crafted reward's per-prompt call log (every completed rollout is scored once; an aborted
one never) and vLLM's own per-request log (one request per launched rollout, ``finish_reason == "abort"`` for an
aborted one), against the trainer's group log and metrics.
"""

from __future__ import annotations

from collections import Counter

import pytest
from aero_runs import BUDGET, N_EXPLORE, REQUEST_LOG, REWARD_CALLS, completed, group_rows, kind, read_requests

pytestmark = pytest.mark.e2e

MAX_RESPONSE_LENGTH = 48


def test_race_aborts_siblings_counts_them_and_never_trains_them(race_run):
    metrics = completed(race_run, [1])[1]
    rows = group_rows(race_run)
    aborted = sum(len(row["aborted_sessions"]) for row in rows)

    # Some sibling was aborted (a running batch of 2 keeps siblings waiting at the first success), and the
    # metrics, the group log and vLLM's own log agree on how many.
    assert aborted > 0, rows
    assert metrics["aero/race/aborted_rollouts"] == aborted
    # Every abort landed: verl_patches P10 reached the vLLM server through the race's own runtime env (not the CPU
    # patches), so no sibling ran out of abort calls.
    assert metrics["aero/race/abort_failed"] == 0
    requests = read_requests(race_run.run_dir / REQUEST_LOG)
    assert Counter(r["finish_reason"] for r in requests)["abort"] == aborted
    # They stopped early: fewer tokens than a full response each (a waiting one has none).
    assert metrics["aero/race/aborted_response_tokens"] < aborted * MAX_RESPONSE_LENGTH

    for row in rows:
        launched = sorted(row["sessions"] + row["aborted_sessions"])
        assert launched == list(range(len(launched))), row  # one numbering, no session twice
        assert len(launched) <= BUDGET, row
        assert row["rounds"] <= 2, row  # exploration, then at most one race round
        if row["aborted_sessions"]:
            # Only a rescued prompt races, and only a success ends a race early.
            assert row["n_explore_correct"] == 0 and row["n_correct"] >= 1, row
            assert min(row["aborted_sessions"]) >= N_EXPLORE, row
        # Aborted sessions are not part of the group: never a success count, never kept, never an advantage.
        assert len(row["kept"]) == len(row["advantage"]) == len(row["sessions"]) == row["n_generated"], row
        if kind(row) == 0:  # never correct: the race runs its whole budget, nothing to abort
            assert row["aborted_sessions"] == [] and row["n_generated"] == BUDGET, row

    # The crafted reward scored every completed rollout once and no aborted one.
    calls = {path.name: len(path.read_text().splitlines()) for path in (race_run.run_dir / REWARD_CALLS).iterdir()}
    assert sum(calls.values()) == metrics["aero/gen/rollouts"] == sum(row["n_generated"] for row in rows)
    assert metrics["aero/train/rollouts"] == sum(sum(row["kept"]) for row in rows)
    # vLLM saw one request per launched rollout (no validation in this run): no prompt beyond its budget there.
    per_prompt = Counter(tuple(r["prompt_token_ids"]) for r in requests)
    assert len(per_prompt) == len(rows) and max(per_prompt.values()) <= BUDGET, per_prompt.values()
    assert sum(per_prompt.values()) == metrics["aero/gen/rollouts"] + aborted
