"""Stock ``python -m verl.trainer.main_ppo`` (V1 trainer, GRPO) end to end on CPU with verl's vLLM rollout server.

Two trainer runs, each checked from verl's own JSONL file logger:

* a 3-step run on two FSDP2 ranks with a reference model and a KL loss, saving at step 2: exit 0, non-zero
  gradients from rewards that vary within groups, and the rollout's logprobs equal to the trainer's after every
  weight sync;
* a negative control that withholds the weights from vLLM (``verl_patches.cpu.negative_control_skip_weight_sync``):
  the same logprob check must fail, showing that it detects a broken sync.

Resuming from a checkpoint is checked on the recipe's own trainer (``test_aero_kill_resume.py``).
"""

from __future__ import annotations

import pytest

from aero_cpu.launcher import RunResult, run_verl_cpu
from aero_cpu.overrides import tiny_run_overrides
from verl_patches.cpu.negative_control_skip_weight_sync import SKIP_WEIGHT_SYNC_ENV

pytestmark = pytest.mark.e2e

MODULE = "verl.trainer.main_ppo"
RUN_TIMEOUT_S = 600  # a vLLM engine start is ~1 min of it; twice that when the other CPU slot is busy
# max |p_rollout - p_trainer| per token, rollout and trainer both fp32: 4.7e-9 to 7.5e-9 after every weight sync;
# 2.8e-3 to 8.3e-3 without it (negative control, lr 1e-2; the tiny model's token probabilities are ~4e-3, so the
# differences look small). 1e-5 sits three orders of magnitude from each (measured 2026-12-01).
SYNCED_PROBS_DIFF_MAX = 1e-5
LR = 1e-2


def grpo_overrides(assets, total_steps: int, *extra: str) -> list[str]:
    return [
        *tiny_run_overrides(assets, lr=LR),
        "algorithm.adv_estimator=grpo",
        "trainer.use_v1=true",
        f"trainer.total_training_steps={total_steps}",
        *extra,
    ]


def assert_completed(result: RunResult, expected_steps: list[int]) -> None:
    assert not result.timed_out, f"timed out after {result.wall_s:.0f}s\n{result.log_tail()}"
    assert result.returncode == 0, f"exit {result.returncode}\n{result.log_tail()}"
    assert list(result.steps()) == expected_steps, f"logged steps {list(result.steps())}\n{result.log_tail()}"


def assert_rollout_matches_trainer(result: RunResult, tol: float = SYNCED_PROBS_DIFF_MAX) -> None:
    """Every step's rollout token probabilities equal the trainer's (old-logprob pass) within ``tol``."""
    steps = result.steps()
    for step, metrics in steps.items():
        assert metrics.get("training/rollout_probs_diff_valid") == 1, f"step {step}: no rollout logprobs"
        diff = metrics["training/rollout_probs_diff_max"]
        assert diff < tol, f"step {step}: rollout vs trainer prob diff max {diff:.3g} >= {tol}"


def test_grpo_two_ranks_with_reference_model_kl_train_and_sync_weights(tiny_assets, tmp_path):
    """Two FSDP2 ranks on gloo (P3), a CPU-offloaded forward-only reference model (P5) and a KL loss."""
    overrides = grpo_overrides(
        tiny_assets,
        3,
        "trainer.save_freq=2",
        "actor_rollout_ref.actor.use_kl_loss=True",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
    )
    result = run_verl_cpu(MODULE, overrides, tmp_path / "two_ranks", RUN_TIMEOUT_S, n_gpus=2)
    assert_completed(result, [1, 2, 3])
    steps = result.steps()
    learning_steps = [
        step
        for step, m in steps.items()
        if m["actor/grad_norm"] > 0 and m["critic/advantages/max"] > 0 > m["critic/advantages/min"]
    ]
    assert learning_steps, {s: (m["actor/grad_norm"], m["critic/advantages/max"]) for s, m in steps.items()}
    assert all("timing_s/ref" in m for m in steps.values()), "no reference log-prob pass"
    assert steps[2]["actor/kl_loss"] > 0, "policy moved after step 1, so its KL to the reference must be positive"
    assert_rollout_matches_trainer(result)
    assert (result.checkpoint_dir / "global_step_2" / "actor").is_dir()


def test_negative_control_without_weight_sync_fails_the_logprob_check(tiny_assets, tmp_path):
    result = run_verl_cpu(
        MODULE, grpo_overrides(tiny_assets, 2), tmp_path / "no_sync", RUN_TIMEOUT_S, env={SKIP_WEIGHT_SYNC_ENV: "1"}
    )
    assert_completed(result, [1, 2])
    # vLLM starts on dummy weights (verl's load_format=dummy for the hybrid engine) and gets the trainer's through
    # the same sync before step 1, so without it every step's rollout differs, the first one included.
    assert all(m["training/rollout_probs_diff_max"] > 100 * SYNCED_PROBS_DIFF_MAX for m in result.steps().values())
    with pytest.raises(AssertionError, match="rollout vs trainer prob diff"):
        assert_rollout_matches_trainer(result)
