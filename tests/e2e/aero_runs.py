"""The AERO e2e runs shared by several test modules, and the helpers that read them back.

Each ``python -m recipe.aero.main_aero`` run costs 2-5 minutes on 2 cores (most of it Ray, vLLM and FSDP start-up),
so a run is made once per session (``conftest.py``) and every module that needs its logs reads the same one:

* ``aero_run``: AERO, 4 steps, checkpoints at 2 and 4, validation at steps 0, 2 and 4 with the recipe's math reward;
  the crafted reward's schedule (``fixtures/crafted_reward.py``) decides every training rollout. The kill/resume
  test uses it as its uninterrupted run, the smoke-summary test as its AERO arm.
* ``grpo_run``: the GRPO baseline with the same settings for 2 steps (the smoke summary's GRPO arm).
* ``steps_run``: AERO for 2 steps with ``update_sizing=steps`` and ``degenerate_loss_share=0.25``, a checkpoint
  at step 2 (the update-sizing and batch-composition checks).
* ``guided_run``: every group degenerate (``fixtures/half_unsolvable_reward.py``), nothing to train, guided
  exploration on and 6 training prompts (step 2 revisits step 1's), with vLLM's per-request log on and a running
  batch capped at 10 sequences (the continuous-batching test).
* ``race_run``: one step of AERO with the rescue race (``algorithm.aero.rescue_race``), vLLM's per-request log on
  and a running batch of 2 sequences.
"""

from __future__ import annotations

import json
from pathlib import Path

from aero_cpu.launcher import RunResult, run_verl_cpu
from aero_cpu.overrides import tiny_run_overrides

MODULE = "recipe.aero.main_aero"
RUN_TIMEOUT_S = 600  # a vLLM engine start is ~1 min of it; twice that when the other CPU slot is busy
FIXTURES = Path(__file__).parent / "fixtures"
CRAFTED_REWARD = FIXTURES / "crafted_reward.py"
HALF_UNSOLVABLE_REWARD = FIXTURES / "half_unsolvable_reward.py"
GROUP_LOG = "aero_groups.jsonl"
REWARD_CALLS = "reward_calls"
REQUEST_LOG = "vllm_requests.jsonl"
REQUEST_LOG_ENV = "AERO_VLLM_REQUEST_LOG"
BUDGET, N_EXPLORE, N_EXTRA = 8, 4, 2
AERO_RUN_STEPS = 4

CHECKPOINTS = ("trainer.save_freq=2", "trainer.resume_mode=auto")
VALIDATION = (
    "trainer.val_before_train=True",
    "trainer.test_freq=2",
    "actor_rollout_ref.rollout.val_kwargs.n=4",
    "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
)


def overrides(assets, estimator: str, steps: int, run_dir: Path, *extra: str) -> list[str]:
    """The runs' shared settings: 6 prompts per step, PPO mini-batch 3, budget 8 = 4 explored + rounds of 2."""
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


def aero_run_overrides(assets, run_dir: Path, *extra: str) -> list[str]:
    """``aero_run``'s overrides; the kill/resume test's killed and resumed runs use these too."""
    return overrides(assets, "aero", AERO_RUN_STEPS, run_dir, *CHECKPOINTS, *VALIDATION, *extra)


def run(assets, tmp_path_factory, name: str, estimator: str, steps: int, *extra: str) -> RunResult:
    run_dir = tmp_path_factory.mktemp(name)
    return run_verl_cpu(MODULE, overrides(assets, estimator, steps, run_dir, *extra), run_dir, RUN_TIMEOUT_S)


def completed(result: RunResult, steps: list[int]) -> dict[int, dict]:
    """The training steps' logged metrics, after checking that the run exited cleanly having trained ``steps``.

    A training step is one that logged its rollouts (``aero/gen/rollouts``, both arms; a step with nothing to train
    logs no ``timing_s/step``); a validation-only record (step 0, or the step a resumed run validates before
    training) is not one.
    """
    assert not result.timed_out, f"timed out after {result.wall_s:.0f}s\n{result.log_tail()}"
    assert result.returncode == 0, f"exit {result.returncode}\n{result.log_tail()}"
    history = result.steps()
    trained = [step for step, metrics in history.items() if step > 0 and "aero/gen/rollouts" in metrics]
    assert trained == steps, f"trained steps {trained}\n{result.log_tail()}"
    return {step: history[step] for step in trained}


def group_rows(result: RunResult) -> list[dict]:
    return [json.loads(line) for line in (result.run_dir / GROUP_LOG).read_text().splitlines()]


def kind(row: dict) -> int:
    """The crafted reward's schedule of a group-log row's prompt (its dataset index mod 5)."""
    return int(row["prompt"].rsplit("/", 1)[1]) % 5


def reward_calls(run_dir: Path, counter_dir: str = REWARD_CALLS) -> int:
    """Reward calls for training prompts, from the crafted reward's own log (one line per call)."""
    return sum(len(path.read_text().splitlines()) for path in (run_dir / counter_dir).glob("train-*"))


def posterior_by_key(state: dict) -> dict[str, tuple[float, float]]:
    posterior = state["posterior"]
    return {k: (a, b) for k, a, b in zip(posterior["keys"], posterior["alpha"], posterior["beta"], strict=True)}


def read_requests(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
