"""``python -m recipe.aero.main_aero`` end to end on CPU: AERO and the GRPO baseline through the real V1 trainer.

The tiny model gets a crafted reward (``fixtures/crafted_reward.py``): a deterministic schedule of successes per
prompt (by dataset index: never, always, first rescue round, last rescue round, 1 of 4) with a shaped score
(acc + 0.1), and a log of every reward call. Everything is read back from what the run wrote: verl's JSONL
metrics, the per-group log (``trainer.v1.aero.group_log_path``), the reward-call log and the checkpoint. Both arms
take 2 PPO mini-batches per step (6 prompts, mini-batch 3).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from aero_cpu.launcher import RunResult, run_verl_cpu
from aero_cpu.overrides import tiny_run_overrides

pytestmark = pytest.mark.e2e

MODULE = "recipe.aero.main_aero"
RUN_TIMEOUT_S = 600  # a vLLM engine start is ~1 min of it; twice that when the other CPU slot is busy
CRAFTED_REWARD = Path(__file__).parent / "fixtures" / "crafted_reward.py"
GROUP_LOG = "aero_groups.jsonl"
REWARD_CALLS = "reward_calls"
BUDGET, N_EXPLORE, N_EXTRA = 8, 4, 2

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
    *(f"aero/timing/{name}" for name in ("explore_phase_s", "rescue_tail_s", "generation_span_s")),
    "aero/timing/critical_path_rounds",
    "aero/timing/max_rounds",
    "aero/arm/adaptive_rollout",
    "aero/arm/posterior_advantage",
]
VAL_METRICS = ["aero_val/openai/gsm8k/avg@4", "aero_val/openai/gsm8k/pass@1", "aero_val/openai/gsm8k/pass@4"]


def overrides(assets, estimator: str, steps: int, run_dir: Path, *extra: str) -> list[str]:
    base = [
        o for o in tiny_run_overrides(assets, train_batch_size=6, rollout_n=8) if "custom_reward_function.path" not in o
    ]
    chosen = [
        *base,
        f"reward.custom_reward_function.path={CRAFTED_REWARD}",
        f"+reward.custom_reward_function.reward_kwargs.counter_dir={run_dir / REWARD_CALLS}",
        "actor_rollout_ref.actor.ppo_mini_batch_size=3",
        f"algorithm.adv_estimator={estimator}",
        f"algorithm.aero.n_explore={N_EXPLORE}",
        f"algorithm.aero.budget={BUDGET}",
        f"algorithm.aero.n_extra={N_EXTRA}",
        f"trainer.total_training_steps={steps}",
        f"trainer.v1.aero.group_log_path={run_dir / GROUP_LOG}",
        *extra,
    ]
    last = {o.split("=", 1)[0]: i for i, o in enumerate(chosen)}  # an ``extra`` override replaces a default
    return [o for i, o in enumerate(chosen) if last[o.split("=", 1)[0]] == i]


def run(assets, tmp_path_factory, name: str, estimator: str, steps: int, *extra: str) -> RunResult:
    run_dir = tmp_path_factory.mktemp(name)
    return run_verl_cpu(MODULE, overrides(assets, estimator, steps, run_dir, *extra), run_dir, RUN_TIMEOUT_S)


def completed(result: RunResult, steps: list[int]) -> dict[int, dict]:
    assert not result.timed_out, f"timed out after {result.wall_s:.0f}s\n{result.log_tail()}"
    assert result.returncode == 0, f"exit {result.returncode}\n{result.log_tail()}"
    assert list(result.steps()) == steps, f"logged steps {list(result.steps())}\n{result.log_tail()}"
    return result.steps()


def group_rows(result: RunResult) -> list[dict]:
    return [json.loads(line) for line in (result.run_dir / GROUP_LOG).read_text().splitlines()]


def kind(row: dict) -> int:
    """The crafted reward's schedule of a group-log row's prompt (its dataset index mod 5)."""
    return int(row["prompt"].rsplit("/", 1)[1]) % 5


def train_reward_calls(result: RunResult) -> int:
    """Reward calls for training prompts, from the reward's own log (one line per call)."""
    logs = (result.run_dir / REWARD_CALLS).glob("train-*")
    return sum(len(path.read_text().splitlines()) for path in logs)


VALIDATION = (
    "trainer.test_freq=2",
    "actor_rollout_ref.rollout.val_kwargs.n=4",
    "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
)


@pytest.fixture(scope="module")
def aero_run(tiny_assets, tmp_path_factory) -> RunResult:
    return run(tiny_assets, tmp_path_factory, "aero", "aero", 2, "trainer.save_freq=2", *VALIDATION)


@pytest.fixture(scope="module")
def grpo_run(tiny_assets, tmp_path_factory) -> RunResult:
    return run(tiny_assets, tmp_path_factory, "grpo", "grpo", 2, "trainer.save_freq=2", *VALIDATION)


def test_aero_and_grpo_runs_log_every_aero_metric(aero_run, grpo_run):
    for result in (aero_run, grpo_run):
        steps = completed(result, [1, 2])
        for step, metrics in steps.items():
            missing = [name for name in AERO_METRICS if name not in metrics]
            assert not missing, f"step {step} of {result.run_dir.name} lacks {missing}"
        missing = [name for name in VAL_METRICS if name not in steps[2]]
        assert not missing, f"{result.run_dir.name} validation lacks {missing}"


def test_every_generated_rollout_is_trained_or_dropped(aero_run, grpo_run):
    for result in (aero_run, grpo_run):
        for step, m in completed(result, [1, 2]).items():
            assert m["aero/gen/rollouts"] == m["aero/train/rollouts"] + m["aero/dropped/rollouts"], step
            for s in ("rescue", "low", "high"):
                assert m[f"aero/strata/gen_rollouts_{s}"] == (
                    m[f"aero/strata/train_rollouts_{s}"] + m[f"aero/strata/dropped_rollouts_{s}"]
                ), (step, s)
    grpo = completed(grpo_run, [1, 2])
    assert all(m["aero/dropped/rollouts"] == 0 and m["aero/gen/rollouts"] == 6 * BUDGET for m in grpo.values())


def test_generated_rollouts_equal_the_reward_calls_made(aero_run, grpo_run):
    """Accounting against an independent observation: the reward's own log of its calls."""
    for result in (aero_run, grpo_run):
        steps = completed(result, [1, 2])
        assert train_reward_calls(result) == sum(m["aero/gen/rollouts"] for m in steps.values()), result.run_dir
        assert all(m["aero/failed/prompts"] == 0 and m["aero/failed/rollouts"] == 0 for m in steps.values())


def test_aero_takes_as_many_optimizer_steps_as_grpo(aero_run, grpo_run):
    """6 prompts per step, PPO mini-batch 3: two optimizer steps per training step in both arms, read from the
    optimizer's own counter (Adam's ``step`` per parameter) in the step-2 checkpoint, although AERO's curated batch
    is smaller and of varying size."""
    for result in (aero_run, grpo_run):
        completed(result, [1, 2])
        path = result.checkpoint_dir / "global_step_2" / "actor" / "optim_world_size_1_rank_0.pt"
        state = torch.load(path, map_location="cpu", weights_only=False)["state"]
        assert {float(param["step"]) for param in state.values()} == {4.0}, result.run_dir


def test_generation_split_into_exploration_and_rescue_tail(aero_run, grpo_run):
    """Both arms log the split; GRPO has one round and no tail; AERO's rescue rounds are on the critical path."""
    grpo = completed(grpo_run, [1, 2])
    assert all(m["aero/timing/rescue_tail_s"] == 0 and m["aero/timing/max_rounds"] == 1 for m in grpo.values())
    aero = completed(aero_run, [1, 2])
    for m in aero.values():
        assert m["aero/timing/max_rounds"] == 3  # budget 8 = 4 explore + 2 rounds of 2
        assert m["aero/timing/rescue_tail_s"] > 0
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
    for step, m in completed(result, [1, 2]).items():
        assert (m["aero/arm/adaptive_rollout"], m["aero/arm/posterior_advantage"]) == (adaptive, posterior), step
        if adaptive:
            assert m["aero/gen/rollouts"] < 6 * BUDGET and m["aero/dropped/rollouts"] > 0, (step, m)
            assert m["aero/timing/max_rounds"] == 3, step
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
    completed(aero_run, [1, 2])
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
    completed(aero_run, [1, 2])
    signs = set()
    for row in group_rows(aero_run):
        for hit, kept, advantage in zip(row["success"], row["kept"], row["advantage"], strict=True):
            assert (advantage is not None) == bool(kept), row
            if kept:
                assert (advantage > 0) if hit else (advantage < 0), row
                signs.add((hit, row["n_correct"] in (0, row["n_generated"])))
    assert signs == {(0, True), (1, True), (0, False), (1, False)}, signs


def test_rescue_stops_at_first_success_or_budget(aero_run):
    completed(aero_run, [1, 2])
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
    steps = completed(aero_run, [1, 2])
    rows = group_rows(aero_run)
    failed = [r for r in rows if r["n_correct"] == 0]
    all_correct = [r for r in rows if r["n_correct"] == r["n_generated"]]
    assert failed and all_correct, "the crafted reward should give both kinds of degenerate groups"
    for row in failed + all_correct:
        assert sum(row["kept"]) == min(4, row["n_generated"]), row  # degenerate_keep = 4
    assert all(m["aero/zero_adv_share/before"] > 0 and m["aero/zero_adv_share/after"] == 0 for m in steps.values())
    for row in rows:
        c, n = row["n_correct"], row["n_generated"]
        if 0 < c and c / n < 0.5:
            kept_correct = sum(k and s for k, s in zip(row["kept"], row["success"], strict=True))
            kept_wrong = sum(k and not s for k, s in zip(row["kept"], row["success"], strict=True))
            assert kept_correct == c and kept_wrong == c, row


def posterior_by_key(state: dict) -> dict[str, tuple[float, float]]:
    posterior = state["posterior"]
    return {k: (a, b) for k, a, b in zip(posterior["keys"], posterior["alpha"], posterior["beta"], strict=True)}


def test_resume_restores_the_saved_posterior(aero_run, tiny_assets, tmp_path_factory):
    completed(aero_run, [1, 2])
    checkpoint = aero_run.checkpoint_dir / "global_step_2"
    saved = json.loads((checkpoint / "aero_state.json").read_text())
    resumed = run(
        tiny_assets,
        tmp_path_factory,
        "aero_resumed",
        "aero",
        3,
        "trainer.save_freq=3",
        "trainer.resume_mode=resume_path",
        f"trainer.resume_from_path={checkpoint}",
    )
    steps = completed(resumed, [3])
    # The checkpoint of step 2 holds steps 1 and 2 (accounted before verl saves), so nothing is lost on resume.
    first = completed(aero_run, [1, 2])
    for name in ("gen_rollouts", "train_rollouts", "total_flops"):
        source = {"gen_rollouts": "aero/gen/rollouts", "train_rollouts": "aero/train/rollouts"}.get(
            name, "aero/compute/total_flops"
        )
        assert math.isclose(saved["cumulative"][name], sum(m[source] for m in first.values())), name
        assert math.isclose(steps[3][f"aero/cumulative/{name}"], saved["cumulative"][name] + steps[3][source]), name
    state = json.loads((resumed.checkpoint_dir / "global_step_3" / "aero_state.json").read_text())
    seen_at_step_3 = {row["prompt"] for row in group_rows(resumed)}
    before, after = posterior_by_key(saved), posterior_by_key(state)
    untouched = set(before) - seen_at_step_3
    assert untouched, "step 3 revisited every earlier prompt; cannot compare"
    assert {key: after.get(key) for key in untouched} == {key: before[key] for key in untouched}
    expected = saved["cumulative"]["gen_rollouts"] + steps[3]["aero/gen/rollouts"]
    assert math.isclose(steps[3]["aero/cumulative/gen_rollouts"], expected)


def test_invalid_aero_value_fails_before_ray_starts(tiny_assets, tmp_path):
    result = run_verl_cpu(
        MODULE, overrides(tiny_assets, "aero", 2, tmp_path, "algorithm.aero.n_extra=0"), tmp_path, 120
    )
    log = result.log_path.read_text()
    assert result.returncode != 0
    assert "algorithm.aero.n_extra" in log
    assert "ray init kwargs" not in log and "Started a local Ray instance" not in log


def test_nothing_to_train_is_skipped_and_guided_exploration_acts_on_a_revisit(tiny_assets, tmp_path_factory):
    """Every group degenerate (even dataset indices never solved, odd ones always) and degenerate_keep=0: no crash, no
    update. The same run has guided exploration on and only 6 training prompts, so step 2 revisits step 1's prompts:
    the posterior then knows each one, a never-solved prompt gets its whole budget in one round and an always-solved
    one explores with n_explore_known_solved."""
    all_degenerate = Path(__file__).parent / "fixtures" / "half_unsolvable_reward.py"
    result = run(
        tiny_assets,
        tmp_path_factory,
        "aero_nothing_to_train",
        "aero",
        2,
        "algorithm.aero.degenerate_keep=0",
        f"reward.custom_reward_function.path={all_degenerate}",
        "algorithm.aero.guided_exploration=true",
        "algorithm.aero.n_explore_known_solved=2",
        "data.train_max_samples=6",
    )
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
