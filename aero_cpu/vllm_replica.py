"""verl's vLLM rollout replica on its own (standalone mode), for benchmarks and engine-level tests on CPU.

The trainer runs verl's ``vLLMReplica`` colocated with its workers; benchmarks and the abort test need the same
server without a trainer. :func:`start_vllm_replica` composes verl's ``ppo_trainer`` config with the CPU
overrides (:mod:`aero_cpu.overrides`, so the engine is configured exactly as in every test and demo), starts a
local Ray with one fake GPU and calls verl's ``RolloutReplica.init_standalone``: verl's own
``vLLMHttpServer`` actor on vLLM's CPU build, loading the model's weights from disk. Requests then go through
``replica.server_handle.generate.remote(prompt_ids=..., sampling_params=..., request_id=...)`` exactly as verl's
agent loop sends them, and ``abort_request`` / ``abort_all_requests`` / ``resume_generation`` are verl's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from aero_cpu.launcher import cpu_env
from aero_cpu.overrides import cpu_overrides

RAY_NUM_CPUS = 8


def rollout_config(model_dir: str | Path, overrides: Sequence[str] = ()):
    """verl's composed ``actor_rollout_ref`` config for a standalone replica of ``model_dir`` (real weights)."""
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        cfg = compose(
            config_name="ppo_trainer",
            overrides=[
                *cpu_overrides(),
                f"actor_rollout_ref.model.path={model_dir}",
                "actor_rollout_ref.rollout.load_format=auto",  # standalone: no trainer sends weights
                "actor_rollout_ref.rollout.prompt_length=64",
                "actor_rollout_ref.rollout.response_length=64",
                *overrides,
            ],
        )
    return cfg.actor_rollout_ref


def init_ray(env: Mapping[str, str] | None = None) -> None:
    """A local Ray with one fake GPU and the CPU platform in every worker (as the trainer's ``ray_init``)."""
    import ray

    from verl_patches.plugin import apply_cpu_patches

    worker_env = {"VERL_PLATFORM": "cpu", "VLLM_CPU_KVCACHE_SPACE": "1", **(env or {})}
    os.environ.update(cpu_env(worker_env))
    # This process may have imported verl before VERL_PLATFORM was set (e.g. earlier tests in one pytest run), in
    # which case verl's plugin entry point skipped the CPU patches; verl's vLLM modules need them (P6) here too.
    apply_cpu_patches()
    ray.init(
        num_cpus=RAY_NUM_CPUS,
        num_gpus=1,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": worker_env},
    )


async def start_vllm_replica(model_dir: str | Path, overrides: Sequence[str] = ()):
    """Starts verl's vLLM replica for ``model_dir`` in standalone mode (Ray must be initialised, see
    :func:`init_ray`) and returns it; its ``server_handle`` serves ``generate``."""
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.rollout.replica import get_rollout_replica_class

    actor_rollout_ref = rollout_config(model_dir, overrides)
    model_config = omega_conf_to_dataclass(actor_rollout_ref.model)
    replica_cls = get_rollout_replica_class(actor_rollout_ref.rollout.name)
    replica = replica_cls(replica_rank=0, config=actor_rollout_ref.rollout, model_config=model_config, gpus_per_node=1)
    await replica.init_standalone()
    return replica
