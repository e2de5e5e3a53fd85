"""``python -m recipe.aero.main_aero`` end to end on CPU: AERO and the GRPO baseline through the real V1 trainer.

The tiny model gets a crafted reward (``fixtures/crafted_reward.py``): a deterministic schedule of successes per
prompt (by dataset index: never, always, first rescue round, last rescue round, 1 of 4) with a shaped score
(acc + 0.1), and a log of every reward call. Everything is read back from what the run wrote: verl's JSONL
metrics, the per-group log (``trainer.v1.aero.group_log_path``), the reward-call log and the checkpoint. Both arms
take 2 PPO mini-batches per step (6 prompts, mini-batch 3). The runs are shared with other modules
(``aero_runs.py``, ``conftest.py``): ``aero_run`` trains 4 steps, ``grpo_run`` 2.
"""

from __future__ import annotations

import math

import pytest
import torch
from aero_runs import (
    AERO_RUN_STEPS,
    BUDGET,
    MODULE,
    N_EXPLORE,
    N_EXTRA,
    completed,
    group_rows,
    kind,
    overrides,
    reward_calls,
    run,
)

from aero_cpu.launcher import RunResult, run_verl_cpu

pytestmark = pytest.mark.e2e

AERO_METRICS = [
    *(f"aero/gen/{name}" for name in ("rollouts", "rollouts_explore", "rollouts_rescue", "response_tokens")),
    *(f"aero/gen/{name}" for name in ("response_tokens_explore", "response_tokens_rescue", "prompt_tokens")),
    "aero/train/rollouts",
    "aero/train/response_tokens",
    "aero/dropped/rollouts",
    *(
        f"aero/strata/{kind}_{s}"
        for kind in ("prompts", "gen_rollouts", "train_rollouts", "dropped_rollouts")
        for s in ("rescue", "low", "high")
    ),
    *(f"aero/rescue/{name}" for name in ("attempted_prompts", "succeeded_prompts", "rounds_mean", "rounds_max")),
    "aero/zero_adv_share/before",
    "aero/zero_adv_share/after",
    "aero/nonzero_acc_share/before_rescue",
    "aero/nonzero_acc_share/after_rescue",
    "aero/posterior/num_prompts",
    "aero/posterior/mean_p",
    *(f"aero/compute/{name}_flops" for name in ("gen", "logprob", "update", "total")),
    *(f"aero/cumulative/{name}" for name in ("gen_rollouts", "train_rollouts", "gen_response_tokens")),
    *(f"aero/cumulative/{name}" for name in ("train_response_tokens", "total_flops", "gen_flops")),
    "aero/cumulative/logprob_flops",
    "aero/cumulative/update_flops",
    *(f"aero/failed/{name}" for name in ("prompts", "rollouts", "nonfinite_scores")),
    "aero/skipped_update",
    *(f"aero/update/{name}" for name in ("mini_batches", "optimizer_steps", "mini_batch_rollouts", "padding_rows")),
    "aero/batch/degenerate_rollout_share",
    "aero/batch/degenerate_weight",
    *(f"aero/timing/{name}" for name in ("explore_phase_s", "rescue_tail_s", "generation_span_s")),
    "aero/timing/critical_path_rounds",
    "aero/timing/max_rounds",
    "aero/arm/adaptive_rollout",
    "aero/arm/posterior_advantage",
]
VAL_METRICS = ["aero_val/openai/gsm8k/avg@4", "aero_val/openai/gsm8k/pass@1", "aero_val/openai/gsm8k/pass@4"]


AERO_STEPS = list(range(1, AERO_RUN_STEPS + 1))
GRPO_STEPS = [1, 2]


def rounds_by_step(result: RunResult) -> dict[int, int]:
    """The most rounds any prompt of a step took, from the group log (the crafted schedule decides it)."""
    rounds: dict[int, int] = {}
    for row in group_rows(result):
        rounds[row["step"]] = max(rounds.get(row["step"], 0), row["rounds"])
    return rounds


def test_aero_and_grpo_runs_log_every_aero_metric(aero_run, grpo_run):
    for result, trained in ((aero_run, AERO_STEPS), (grpo_run, GRPO_STEPS)):
        steps = completed(result, trained)
        for step, metrics in steps.items():
            missing = [name for name in AERO_METRICS if name not in metrics]
            assert not missing, f"step {step} of {result.run_dir.name} lacks {missing}"
        missing = [name for name in VAL_METRICS if name not in steps[2]]
        assert not missing, f"{result.run_dir.name} validation lacks {missing}"


def test_every_generated_rollout_is_trained_or_dropped(aero_run, grpo_run):
    for result, trained in ((aero_run, AERO_STEPS), (grpo_run, GRPO_STEPS)):
        for step, m in completed(result, trained).items():
            assert m["aero/gen/rollouts"] == m["aero/train/rollouts"] + m["aero/dropped/rollouts"], step
            for s in ("rescue", "low", "high"):
                assert m[f"aero/strata/gen_rollouts_{s}"] == (
                    m[f"aero/strata/train_rollouts_{s}"] + m[f"aero/strata/dropped_rollouts_{s}"]
                ), (step, s)
    grpo = completed(grpo_run, GRPO_STEPS)
    assert all(m["aero/dropped/rollouts"] == 0 and m["aero/gen/rollouts"] == 6 * BUDGET for m in grpo.values())


def test_generated_rollouts_equal_the_reward_calls_made(aero_run, grpo_run):
    """Accounting against an independent observation: the reward's own log of its calls."""
    for result, trained in ((aero_run, AERO_STEPS), (grpo_run, GRPO_STEPS)):
        steps = completed(result, trained)
        assert reward_calls(result.run_dir) == sum(m["aero/gen/rollouts"] for m in steps.values()), result.run_dir
        assert all(m["aero/failed/prompts"] == 0 and m["aero/failed/rollouts"] == 0 for m in steps.values())


def adam_steps(result: RunResult, step: int) -> set[float]:
    """The optimizer's own counter (Adam's ``step`` per parameter) in the actor checkpoint of ``step``."""
    path = result.checkpoint_dir / f"global_step_{step}" / "actor" / "optim_world_size_1_rank_0.pt"
    state = torch.load(path, map_location="cpu", weights_only=False)["state"]
    return {float(param["step"]) for param in state.values()}


def test_update_sizing_decides_the_optimizer_steps(aero_run, grpo_run, steps_run):
    """6 prompts per step, PPO mini-batch 3 (24 trajectories at budget 8), 1 PPO epoch, read from Adam's counter in
    the step-2 checkpoint. GRPO takes 2 optimizer steps per training step; AERO with ``update_sizing=steps`` takes
    GRPO's 2 on its smaller curated batch; with the default ``samples`` it takes round_half_up(trained rows / 24) per
    step, the trained rows counted from the group log (not from the trainer's metrics), here fewer than GRPO's."""
    for result, trained in ((steps_run, GRPO_STEPS), (grpo_run, GRPO_STEPS)):
        completed(result, trained)
        assert adam_steps(result, 2) == {4.0}, result.run_dir
    steps = completed(aero_run, AERO_STEPS)
    kept = {step: 0 for step in GRPO_STEPS}
    for row in group_rows(aero_run):
        if row["step"] in kept:
            kept[row["step"]] += sum(row["kept"])
    expected = {step: max(1, math.floor(rows / (3 * BUDGET) + 0.5)) for step, rows in kept.items()}
    assert adam_steps(aero_run, 2) == {float(sum(expected.values()))}, (kept, expected)
    assert sum(expected.values()) < 4, kept  # the crafted schedule keeps fewer than 36 rows a step: fewer steps
    for step in GRPO_STEPS:
        m = steps[step]
        assert m["aero/update/optimizer_steps"] == m["aero/update/mini_batches"] == expected[step], (step, m)
        assert m["aero/update/mini_batch_rollouts"] * expected[step] == kept[step] + m["aero/update/padding_rows"]


def test_degenerate_groups_are_capped_at_their_loss_share(steps_run):
    """``degenerate_loss_share=0.25``: each step's degenerate rows (counted from the group log) get the weight
    min(1, (0.25 / 0.75) * mixed rows / degenerate rows), which the trained advantages show: a degenerate row's
    advantage is the posterior advantage (first visits: p from the prior and this step's counts) times that weight."""
    steps = completed(steps_run, GRPO_STEPS)
    rows_by_step: dict[int, list[dict]] = {}
    for row in group_rows(steps_run):
        rows_by_step.setdefault(row["step"], []).append(row)
    seen: set[str] = set()
    for step, m in sorted(steps.items()):
        degenerate = [r for r in rows_by_step[step] if r["n_correct"] in (0, r["n_generated"])]
        n_degenerate = sum(sum(r["kept"]) for r in degenerate)
        n_mixed = sum(sum(r["kept"]) for r in rows_by_step[step]) - n_degenerate
        share = n_degenerate / (n_degenerate + n_mixed)
        weight = min(1.0, n_mixed / (3 * n_degenerate))
        assert share > 0.25, (step, n_degenerate, n_mixed)  # the crafted schedule: the cap binds
        assert m["aero/batch/degenerate_weight"] == pytest.approx(weight), (step, m)
        assert m["aero/batch/degenerate_rollout_share"] == pytest.approx(share)
        assert m["aero/batch/degenerate_loss_share"] == pytest.approx(0.25)
        for row in degenerate:
            if row["prompt"] in seen:
                continue  # a revisit's p carries the decayed earlier counts
            c, n = row["n_correct"], row["n_generated"]
            p = (1 + c) / (2 + n)  # first visit: the Beta(1, 1) prior plus this step's generated counts
            r = 1.0 if c else 0.0
            expected = weight * (r - p) / (math.sqrt(p * (1 - p)) + 1e-6)
            trained = [a for a, kept in zip(row["advantage"], row["kept"], strict=True) if kept]
            assert trained == pytest.approx([expected] * len(trained), rel=1e-4), (row, weight)
        seen.update(row["prompt"] for row in rows_by_step[step])


def test_generation_split_into_exploration_and_rescue_tail(aero_run, grpo_run):
    """Both arms log the split; GRPO has one round and no tail; AERO's rescue rounds are on the critical path."""
    grpo = completed(grpo_run, GRPO_STEPS)
    assert all(m["aero/timing/rescue_tail_s"] == 0 and m["aero/timing/max_rounds"] == 1 for m in grpo.values())
    aero = completed(aero_run, AERO_STEPS)
    most_rounds = rounds_by_step(aero_run)
    for step, m in aero.items():
        assert m["aero/timing/max_rounds"] == most_rounds[step] > 1, step  # budget 8 = 4 explore + rounds of 2
        assert m["aero/timing/rescue_tail_s"] > 0, step
        span = m["aero/timing/generation_span_s"]
        assert math.isclose(m["aero/timing/explore_phase_s"] + m["aero/timing/rescue_tail_s"], span, rel_tol=1e-6)
    rounds = {row["prompt"]: row["rounds"] for row in group_rows(aero_run)}
    assert set(rounds.values()) == {1, 2, 3}


# The two halves of AERO (DESIGN.md §2.11): arm name -> (adaptive rollout, posterior advantage, overrides).
ARMS = {
    "aero": (True, True, ()),
    "grpo": (False, False, ()),
    "adaptive_rollout+grpo_advantage": (True, False, ("algorithm.aero.advantage=grpo",)),
    "fixed_rollout+posterior_advantage": (False, True, ("algorithm.aero.rollout=fixed",)),
}


@pytest.mark.parametrize("arm", list(ARMS))
def test_each_combination_of_the_two_halves_runs_and_shows_in_its_metrics(arm, request, tiny_assets, tmp_path_factory):
    """``adv_estimator=aero`` with either half switched to GRPO's runs 2 steps; each arm is told apart by what it
    did: adaptive rollouts rescue and curate (fewer rollouts, some dropped, 3 rounds), fixed ones generate
    ``rollout.n`` per prompt and train all; the posterior gives degenerate groups a signal, verl's grpo none (up
    to float32 rounding of the group mean)."""
    adaptive, posterior, extra = ARMS[arm]
    if arm in ("aero", "grpo"):  # the module's two main runs
        result = request.getfixturevalue(f"{arm}_run")
    else:
        result = run(tiny_assets, tmp_path_factory, arm.replace("+", "_"), "aero", 2, *extra)
    most_rounds = rounds_by_step(result)
    for step, m in completed(result, AERO_STEPS if arm == "aero" else GRPO_STEPS).items():
        assert (m["aero/arm/adaptive_rollout"], m["aero/arm/posterior_advantage"]) == (adaptive, posterior), step
        if adaptive:
            assert m["aero/gen/rollouts"] < 6 * BUDGET and m["aero/dropped/rollouts"] > 0, (step, m)
            assert m["aero/timing/max_rounds"] == most_rounds[step] > 1, step
        else:
            assert m["aero/gen/rollouts"] == 6 * BUDGET and m["aero/dropped/rollouts"] == 0, (step, m)
            assert m["aero/timing/max_rounds"] == 1, step
    degenerate = [
        advantage
        for row in group_rows(result)
        if row["n_correct"] in (0, row["n_generated"])
        for advantage, kept in zip(row["advantage"], row["kept"], strict=True)
        if kept
    ]
    assert degenerate, "the crafted reward always gives degenerate groups"
    if posterior:
        assert all(abs(advantage) > 0.1 for advantage in degenerate), degenerate
    else:
        assert all(abs(advantage) < 0.05 for advantage in degenerate), degenerate


def test_every_rescue_case_occurred(aero_run):
    """The schedule provably produced each case: rescued on the first and on a later round, budget exhausted, and
    a low-success group balanced by curation."""
    completed(aero_run, AERO_STEPS)
    by_kind: dict[int, list[dict]] = {}
    for row in group_rows(aero_run):
        by_kind.setdefault(kind(row), []).append(row)
    assert set(by_kind) == {0, 1, 2, 3, 4}, sorted(by_kind)
    expected = {0: (8, 0), 1: (4, 4), 2: (6, 2), 3: (8, 2), 4: (4, 1)}  # (generated, correct)
    for k, rows in by_kind.items():
        assert all((row["n_generated"], row["n_correct"]) == expected[k] for row in rows), (k, rows)
    for row in by_kind[4]:  # 1 of 4: the correct rollout and one incorrect one are trained
        assert sorted(zip(row["success"], row["kept"], strict=True)) == [(0, 0), (0, 0), (0, 1), (1, 1)], row


def test_trained_advantages_have_the_sign_of_success_under_a_shaped_score(aero_run):
    """Every trained rollout's advantage (read back from the trained batch) is > 0 when correct, < 0 when wrong,
    although every score is > 0 (acc + 0.1) - in degenerate groups (posterior) and mixed ones (GRPO)."""
    completed(aero_run, AERO_STEPS)
    signs = set()
    for row in group_rows(aero_run):
        for hit, kept, advantage in zip(row["success"], row["kept"], row["advantage"], strict=True):
            assert (advantage is not None) == bool(kept), row
            if kept:
                assert (advantage > 0) if hit else (advantage < 0), row
                signs.add((hit, row["n_correct"] in (0, row["n_generated"])))
    assert signs == {(0, True), (1, True), (0, False), (1, False)}, signs


def test_rescue_stops_at_first_success_or_budget(aero_run):
    completed(aero_run, AERO_STEPS)
    rows = group_rows(aero_run)
    assert rows and max(row["n_generated"] for row in rows) <= BUDGET
    rescued = [row for row in rows if row["n_generated"] > N_EXPLORE]
    assert rescued, "no prompt was rescued: the crafted reward should leave some at zero success"
    for row in rows:
        successes = [i for i, hit in zip(row["sessions"], row["success"], strict=True) if hit]
        if row["n_explore_correct"] > 0:
            assert row["n_generated"] == N_EXPLORE, row
        elif successes:  # rescued: the round that found the first success was the last one
            assert row["n_generated"] - 1 - successes[0] < N_EXTRA, row
        else:  # failed rescue: the whole budget was spent
            assert row["n_generated"] == BUDGET, row


def test_degenerate_groups_train_with_nonzero_advantages_and_low_success_groups_are_balanced(aero_run):
    steps = completed(aero_run, AERO_STEPS)
    rows = group_rows(aero_run)
    failed = [r for r in rows if r["n_correct"] == 0]
    all_correct = [r for r in rows if r["n_correct"] == r["n_generated"]]
    assert failed and all_correct, "the crafted reward should give both kinds of degenerate groups"
    for row in failed + all_correct:
        assert sum(row["kept"]) == min(4, row["n_generated"]), row  # degenerate_keep = 4
    # "before" counts groups degenerate after exploration (a rescued group was all wrong then)
    degenerate_after_exploration = {row["step"] for row in rows if row["n_explore_correct"] in (0, N_EXPLORE)}
    for step, m in steps.items():  # the posterior leaves no trained prompt at zero advantage
        assert (m["aero/zero_adv_share/before"] > 0) == (step in degenerate_after_exploration), (step, m)
        assert m["aero/zero_adv_share/after"] == 0, (step, m)
    for row in rows:
        c, n = row["n_correct"], row["n_generated"]
        if 0 < c and c / n < 0.5:
            kept_correct = sum(k and s for k, s in zip(row["kept"], row["success"], strict=True))
            kept_wrong = sum(k and not s for k, s in zip(row["kept"], row["success"], strict=True))
            assert kept_correct == c and kept_wrong == c, row


def test_invalid_aero_value_fails_before_ray_starts(tiny_assets, tmp_path):
    result = run_verl_cpu(
        MODULE, overrides(tiny_assets, "aero", 2, tmp_path, "algorithm.aero.n_extra=0"), tmp_path, 120
    )
    log = result.log_path.read_text()
    assert result.returncode != 0
    assert "algorithm.aero.n_extra" in log
    assert "ray init kwargs" not in log and "Started a local Ray instance" not in log


def test_nothing_to_train_is_skipped_and_guided_exploration_acts_on_a_revisit(guided_run):
    """Every group degenerate (even dataset indices never solved, odd ones always) and degenerate_keep=0: no crash, no
    update. The same run has guided exploration on and only 6 training prompts, so step 2 revisits step 1's prompts:
    the posterior then knows each one, a never-solved prompt gets its whole budget in one round and an always-solved
    one explores with n_explore_known_solved."""
    result = guided_run
    steps = completed(result, [1, 2])
    for step, m in steps.items():
        assert m["aero/skipped_update"] == 1 and m["aero/train/rollouts"] == 0, (step, m)
        assert m["aero/gen/rollouts"] == m["aero/dropped/rollouts"] > 0, (step, m)
        assert "actor/pg_loss" not in m, step  # no update ran
    assert steps[2]["aero/posterior/num_prompts"] == 6  # the same 6 prompts twice
    assert steps[2]["aero/cumulative/gen_rollouts"] == sum(m["aero/gen/rollouts"] for m in steps.values())

    first, second = steps[1], steps[2]
    assert first["aero/guidance/prompts_unknown"] == 6 and first["aero/timing/max_rounds"] == 3
    failing, solved = second["aero/guidance/prompts_known_failing"], second["aero/guidance/prompts_known_solved"]
    assert failing + solved == 6 and failing > 0 and solved > 0, second
    assert second["aero/gen/rollouts"] == failing * BUDGET + solved * 2, second
    assert second["aero/timing/max_rounds"] == 1 and second["aero/timing/rescue_tail_s"] == 0, second
    rows = [row for row in group_rows(result) if row["step"] == 2]
    assert all(row["rounds"] == 1 and row["n_generated"] <= BUDGET for row in rows), rows
