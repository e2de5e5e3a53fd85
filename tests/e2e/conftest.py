"""Fixtures for the CPU end-to-end tests: the tiny assets, and the AERO runs several modules read (``aero_runs``)."""

from __future__ import annotations

import pytest
from aero_runs import (
    CHECKPOINTS,
    HALF_UNSOLVABLE_REWARD,
    MODULE,
    REQUEST_LOG,
    REQUEST_LOG_ENV,
    RUN_TIMEOUT_S,
    VALIDATION,
    aero_run_overrides,
    overrides,
    run,
)

from aero_cpu.launcher import RunResult, run_verl_cpu
from aero_cpu.tiny_assets import TinyAssetPaths, build_all


@pytest.fixture(scope="session")
def tiny_assets() -> TinyAssetPaths:
    """Tiny tokenizer/Qwen2/parquet/reward in ``.cache/tiny_assets`` (rebuilt only when the spec changes)."""
    return build_all()


@pytest.fixture(scope="session")
def aero_run(tiny_assets, tmp_path_factory) -> RunResult:
    run_dir = tmp_path_factory.mktemp("aero")
    return run_verl_cpu(MODULE, aero_run_overrides(tiny_assets, run_dir), run_dir, RUN_TIMEOUT_S)


@pytest.fixture(scope="session")
def grpo_run(tiny_assets, tmp_path_factory) -> RunResult:
    return run(tiny_assets, tmp_path_factory, "grpo", "grpo", 2, *CHECKPOINTS, *VALIDATION)


@pytest.fixture(scope="session")
def steps_run(tiny_assets, tmp_path_factory) -> RunResult:
    """AERO with ``update_sizing=steps`` and degenerate groups capped at a quarter of the loss weight, 2 steps, a
    checkpoint at step 2: the other sizing and the composition key next to ``aero_run``'s defaults."""
    extra = ("algorithm.aero.update_sizing=steps", "algorithm.aero.degenerate_loss_share=0.25")
    return run(tiny_assets, tmp_path_factory, "aero_steps", "aero", 2, *CHECKPOINTS, *extra)


@pytest.fixture(scope="session")
def guided_run(tiny_assets, tmp_path_factory) -> RunResult:
    run_dir = tmp_path_factory.mktemp("aero_guided_nothing_to_train")
    extra = (
        "algorithm.aero.degenerate_keep=0",
        f"reward.custom_reward_function.path={HALF_UNSOLVABLE_REWARD}",
        "algorithm.aero.guided_exploration=true",
        "algorithm.aero.n_explore_known_solved=2",
        "data.train_max_samples=6",
        "data.max_response_length=48",
        # vLLM records per-request engine timestamps only with its stats on.
        "actor_rollout_ref.rollout.disable_log_stats=False",
        # A running batch that is full some of the time, as on a loaded GPU: 24 exploration requests in step 1
        # are scheduled in waves of at most 10, so a prompt explored in an early wave finishes (and is rescued)
        # while later waves are still decoding.
        "actor_rollout_ref.rollout.max_num_seqs=10",
    )
    env = {REQUEST_LOG_ENV: str(run_dir / REQUEST_LOG)}
    return run_verl_cpu(MODULE, overrides(tiny_assets, "aero", 2, run_dir, *extra), run_dir, RUN_TIMEOUT_S, env=env)


@pytest.fixture(scope="session")
def race_run(tiny_assets, tmp_path_factory) -> RunResult:
    """One step of AERO with the rescue race on, the crafted reward, and vLLM's per-request log."""
    run_dir = tmp_path_factory.mktemp("aero_race")
    extra = (
        "algorithm.aero.rescue_race=true",
        "data.max_response_length=48",
        # A running batch of 2, as on a saturated engine: a race's siblings are spread over several waves, so at
        # its first success some are still waiting or decoding (what the abort saves).
        "actor_rollout_ref.rollout.max_num_seqs=2",
    )
    env = {REQUEST_LOG_ENV: str(run_dir / REQUEST_LOG)}
    return run_verl_cpu(MODULE, overrides(tiny_assets, "aero", 1, run_dir, *extra), run_dir, RUN_TIMEOUT_S, env=env)
