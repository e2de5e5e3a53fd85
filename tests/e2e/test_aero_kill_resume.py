"""kill -9 in the middle of a step, then ``resume_mode=auto``, against an uninterrupted run of the same config.

The uninterrupted run is the session's shared ``aero_run`` (``aero_runs.py``). Both use the crafted reward (every
prompt's successes are a deterministic function of how many calls it has had), so the posterior does not depend on the
sampled text and the two runs must agree exactly on which prompts each later step saw, on the rollout counters and on
the posterior. Token and FLOP counters depend on the sampled text, which a restarted engine does not reproduce, so for
those the resumed totals must equal the sum of the steps each attempt logged (the checkpoint held steps 1..2, not 1..1).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from aero_runs import (
    AERO_RUN_STEPS,
    GROUP_LOG,
    MODULE,
    RUN_TIMEOUT_S,
    aero_run_overrides,
    completed,
    group_rows,
    kind,
    posterior_by_key,
    reward_calls,
)
from test_cpu_grpo import SYNCED_PROBS_DIFF_MAX

from aero_cpu.launcher import RunResult, run_verl_cpu
from recipe.aero.report import load_history

pytestmark = pytest.mark.e2e

SUMMED = {
    "gen_rollouts": "aero/gen/rollouts",
    "train_rollouts": "aero/train/rollouts",
    "gen_response_tokens": "aero/gen/response_tokens",
    "total_flops": "aero/compute/total_flops",
}
SAME_AS_UNINTERRUPTED = ("gen_rollouts", "train_rollouts")  # decided by the crafted reward, not by the sampled text
RESUMED_COUNTERS = "reward_calls_resumed"


def _in_step_3(run_dir: Path) -> bool:
    """Step 2 is checkpointed and logged, and step 3's rollouts are being scored: the middle of a step."""
    marker = run_dir / "checkpoints" / "latest_checkpointed_iteration.txt"
    metrics = run_dir / "metrics.jsonl"
    if not marker.exists() or marker.read_text().strip() != "2" or not metrics.exists():
        return False
    try:
        logged = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError:  # a line being written
        return False
    by_step = {r.get("step"): r["data"] for r in logged if "aero/gen/rollouts" in r.get("data", {})}
    if sorted(by_step) != [1, 2]:  # verl marks the checkpoint before it logs the step's metrics
        return False
    return reward_calls(run_dir) > sum(m["aero/gen/rollouts"] for m in by_step.values())


@pytest.fixture(scope="module")
def runs(aero_run, tiny_assets, tmp_path_factory) -> tuple[RunResult, RunResult, RunResult, Path]:
    """The shared 4-step ``aero_run`` as the uninterrupted run, and a run of the same config killed and resumed."""
    run_dir = tmp_path_factory.mktemp("killed")
    killed = run_verl_cpu(
        MODULE, aero_run_overrides(tiny_assets, run_dir), run_dir, RUN_TIMEOUT_S, kill_when=_in_step_3
    )
    # verl's file logger truncates metrics.jsonl on start; keep the first attempt's log. The reward's call counters
    # restart too, as they would for a fresh visit of the interrupted step's prompts.
    first_log = run_dir / "attempt1.jsonl"
    shutil.copy(run_dir / "metrics.jsonl", first_log)
    resumed_counters = f"+reward.custom_reward_function.reward_kwargs.counter_dir={run_dir / RESUMED_COUNTERS}"
    resumed = run_verl_cpu(MODULE, aero_run_overrides(tiny_assets, run_dir, resumed_counters), run_dir, RUN_TIMEOUT_S)
    return aero_run, killed, resumed, first_log


def test_killed_mid_step_and_resumed_matches_the_uninterrupted_run(runs):
    whole, killed, resumed, first_log = runs
    assert killed.returncode == -9, f"the run was not killed mid-step (exit {killed.returncode})\n{killed.log_tail()}"
    uninterrupted = completed(whole, list(range(1, AERO_RUN_STEPS + 1)))
    after = completed(resumed, [3, 4])  # restarts at the step after the last checkpoint
    for step, m in after.items():  # the loaded weights reached the rollout engine
        diff = m["training/rollout_probs_diff_max"]
        assert diff < SYNCED_PROBS_DIFF_MAX, (step, diff)
    # The step-2 checkpoint holds steps 1 and 2 (accounted before verl saves), not 1..1.
    saved = json.loads((whole.checkpoint_dir / "global_step_2" / "aero_state.json").read_text())
    for name in SAME_AS_UNINTERRUPTED:
        assert saved["cumulative"][name] == sum(uninterrupted[s][SUMMED[name]] for s in (1, 2)), name

    before = {step: m for step, m in load_history(first_log).items() if step in (1, 2)}
    assert sorted(before) == [1, 2], sorted(before)
    for name, source in SUMMED.items():
        total = sum(m[source] for m in [*before.values(), *after.values()])
        assert math.isclose(after[4][f"aero/cumulative/{name}"], total, rel_tol=1e-9), name
    for name in SAME_AS_UNINTERRUPTED:
        assert after[4][f"aero/cumulative/{name}"] == uninterrupted[4][f"aero/cumulative/{name}"], name

    def prompts_by_step(result: RunResult) -> dict[int, list[str]]:
        seen: dict[int, list[str]] = {}
        for row in group_rows(result):
            seen.setdefault(row["step"], []).append(row["prompt"])
        return {step: sorted(prompts) for step, prompts in seen.items() if step >= 3}

    assert prompts_by_step(resumed) == prompts_by_step(whole)

    def posterior(result: RunResult) -> dict[str, tuple[float, float]]:
        return posterior_by_key(json.loads((result.checkpoint_dir / "global_step_4" / "aero_state.json").read_text()))

    # Counts times powers of the decay (0.5) plus the prior: exact in floating point, so compared exactly.
    assert posterior(resumed) == posterior(whole)
    assert (resumed.run_dir / GROUP_LOG).exists()


def test_same_seed_curates_the_same_rollouts(runs):
    """The killed attempt's steps 1-2 against the uninterrupted run's: same seed, config and data, same curation."""
    whole, killed, _, _ = runs

    def decisions(result: RunResult) -> dict:  # prompts whose success pattern does not depend on the sampled text
        return {
            (row["step"], row["prompt"]): (row["sessions"], row["kept"])
            for row in group_rows(result)
            if row["step"] in (1, 2) and kind(row) != 4  # 1 of 4: which session is correct depends on arrival order
        }

    first, second = decisions(whole), decisions(killed)
    assert first and first == second
    assert any(0 < sum(kept) < len(kept) for _, kept in first.values()), "no group was actually curated"
