"""The one place that lists the Hydra overrides running verl 0.9.1 on CPU (cpu_e2e_notes §3-§4, §10).

Two groups:

* :func:`cpu_overrides`: what any model needs on the CPU platform (device, FSDP2 + sdpa, verl's vLLM rollout
  server on vLLM's CPU build, dynamic batch sizes, Ray with fake GPUs, the ``VERL_PLATFORM`` env var for Ray
  workers, file logging).
* :func:`tiny_run_overrides`: a tiny model/data/reward set from ``aero_cpu.tiny_assets`` and batch
  sizes small enough for a 2-core machine.

Keys that verl's base config lacks are set with ``++`` (add-or-override), so the list also composes with a
recipe yaml that already defines them. Callers append their own overrides after these and the last value
wins; to change one of the ``++`` keys use ``++`` as well (e.g. ``++ray_kwargs.ray_init.num_gpus=2``).
"""

from __future__ import annotations

from collections.abc import Mapping

from aero_cpu.tiny_assets import TinyAssetPaths

DEFAULT_RAY_NUM_CPUS = 16
VLLM_CPU_KVCACHE_GIB = "1"
RAY_USAGE_STATS_OFF = {"RAY_USAGE_STATS_ENABLED": "0"}


def runtime_env_overrides(env: Mapping[str, str]) -> list[str]:
    """Adds env vars to ``ray_kwargs.ray_init.runtime_env.env_vars`` quoted, so Hydra keeps them strings.

    Ray rejects non-string env values (``runtime_env['env_vars'] must be Dict[str,str]``) and Hydra would
    type ``X=1`` as an int (cpu_e2e_notes §7.2).
    """
    lines = []
    for name, value in env.items():
        quoted = str(value).replace("\\", "\\\\").replace("'", "\\'")
        lines.append(f"++ray_kwargs.ray_init.runtime_env.env_vars.{name}='{quoted}'")
    return lines


def cpu_overrides(
    n_gpus: int = 1, ray_num_cpus: int = DEFAULT_RAY_NUM_CPUS, nnodes: int = 1, ray_address: str | None = None
) -> list[str]:
    """Overrides that make ``verl.trainer.main_ppo`` (or a recipe main built on it) run on the CPU platform.

    Args:
        n_gpus: trainer ranks per node (fake Ray GPUs); each is one FSDP2 rank on gloo.
        ray_num_cpus: Ray's CPU count for the local cluster ``ray.init`` starts. Must be set: with the 2 detected
            cores the TaskRunner, placement bundles, TransferQueue actors and agent-loop/reward workers cannot all
            be placed and the job hangs. Oversubscribing real cores is fine for tiny models.
        nnodes: ``trainer.nnodes``; more than 1 needs a cluster with that many nodes (``ray_address``).
        ray_address: attach to this running cluster (``ray_kwargs.ray_init.address``) instead of starting a
            local one; its nodes' CPUs and fake GPUs were set by ``ray start``, and Ray refuses ``num_cpus`` /
            ``num_gpus`` when connecting, so neither is passed.

    Returns:
        Hydra override strings, one per key.
    """
    if ray_address is None:
        ray_init = [
            f"ray_kwargs.ray_init.num_cpus={ray_num_cpus}",
            f"++ray_kwargs.ray_init.num_gpus={n_gpus}",
            "++ray_kwargs.ray_init.include_dashboard=False",
        ]
    else:
        ray_init = [f"++ray_kwargs.ray_init.address={ray_address}"]
    return [
        "trainer.device=cpu",
        f"trainer.n_gpus_per_node={n_gpus}",
        f"trainer.nnodes={nnodes}",
        "trainer.logger=[console,file]",
        # FSDP1 fails on CPU ("module has CPU parameters ... sync_module_states"); FSDP2 on gloo works.
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.actor.fsdp_config.strategy=fsdp2",
        # fp32 compute: FSDP's default MixedPrecision(param_dtype=bf16) is slow on CPU and makes the trainer's
        # logprobs differ from the fp32 rollout's by ~1e-2, hiding weight-sync errors.
        *[
            f"++actor_rollout_ref.{role}.fsdp_config.mixed_precision.{key}=fp32"
            for role in ("actor", "ref")
            for key in ("param_dtype", "reduce_dtype", "buffer_dtype")
        ],
        "actor_rollout_ref.actor.use_torch_compile=False",
        "actor_rollout_ref.actor.fsdp_config.use_torch_compile=False",
        # flash-attn (verl's default attention) is not installed on CPU.
        "++actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        "actor_rollout_ref.model.use_remove_padding=False",
        "actor_rollout_ref.model.enable_gradient_checkpointing=False",
        # Token-budget micro-batches: ragged group sizes (AERO) break fixed micro-batch divisibility.
        "actor_rollout_ref.actor.use_dynamic_bsz=True",
        "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True",
        "actor_rollout_ref.ref.log_prob_use_dynamic_bsz=True",
        # verl's own vLLM server on vLLM's CPU build (verl_patches P6-P7); one replica per trainer rank.
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        # vLLM refuses sleep mode on CPU ("Sleep mode is not supported on current platform"); its CPU worker's
        # sleep/wake_up are logged no-ops (one host memory), so verl's sleep/wake calls still run and do nothing.
        "++actor_rollout_ref.rollout.enable_sleep_mode=False",
        # fp32 like the trainer: rollout and trainer log-probs then agree to ~1e-8 after a weight sync (bf16: ~1e-2).
        "actor_rollout_ref.rollout.dtype=float32",
        # No torch.compile / graph capture: compiling costs more start-up than it saves on tiny models.
        "actor_rollout_ref.rollout.enforce_eager=True",
        # Rollout logprobs feed training/rollout_probs_diff_*: the check that weight sync works.
        "actor_rollout_ref.rollout.calculate_log_probs=True",
        # Two agent-loop worker processes: each rollout costs ~30 ms of Python in its worker (verl's agent loop:
        # request, reward call, TransferQueue put), the generation phase's bottleneck on CPU; a 64 x 8 GRPO step's
        # generation phase ran 1.25x faster with 2 than with 1 (benchmarks/bench_generation_phase.py).
        "actor_rollout_ref.rollout.agent.num_workers=2",
        "reward.num_workers=1",
        "data.dataloader_num_workers=0",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        *ray_init,
        # VLLM_CPU_KVCACHE_SPACE: vLLM's KV cache in host memory, GiB per engine (its default, 4, is far more than
        # tiny models need on a 24 GiB machine shared by several runs). RAY_USAGE_STATS_ENABLED=0: no usage reports
        # to Ray's servers (the driver's environment, aero_cpu.launcher.cpu_env, is what the local cluster reads;
        # here it reaches every worker as well).
        *runtime_env_overrides(
            {"VERL_PLATFORM": "cpu", "VLLM_CPU_KVCACHE_SPACE": VLLM_CPU_KVCACHE_GIB, **RAY_USAGE_STATS_OFF}
        ),
    ]


def tiny_run_overrides(
    assets: TinyAssetPaths,
    train_batch_size: int = 4,
    rollout_n: int = 2,
    max_prompt_length: int = 64,
    max_response_length: int = 16,
    lr: float = 1e-3,
) -> list[str]:
    """Model, data, reward and batch sizes for a seconds-per-step run on the tiny assets.

    Args:
        assets: paths from ``aero_cpu.tiny_assets.build_all``.
        train_batch_size: prompts per step.
        rollout_n: rollouts per prompt.
        max_prompt_length: prompt tokens (the tiny prompts are about 25 byte tokens).
        max_response_length: response tokens.
        lr: actor learning rate.

    Returns:
        Hydra override strings, one per key.
    """
    return [
        f"data.train_files={assets.train_file}",
        f"data.val_files={assets.val_file}",
        f"data.train_batch_size={train_batch_size}",
        # A fixed data order (and ``train_max_samples`` subset): verl's default ``data.seed=null`` draws both from
        # an unseeded generator, so a test's batches would differ from run to run and machine to machine.
        "data.seed=0",
        f"data.max_prompt_length={max_prompt_length}",
        f"data.max_response_length={max_response_length}",
        f"actor_rollout_ref.model.path={assets.model_dir}",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={train_batch_size}",
        "actor_rollout_ref.actor.use_kl_loss=False",
        f"actor_rollout_ref.rollout.n={rollout_n}",
        f"reward.custom_reward_function.path={assets.reward_fn_file}",
        "reward.custom_reward_function.name=compute_score",
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        "trainer.save_freq=-1",
        "trainer.project_name=aero_cpu",
        "trainer.experiment_name=tiny",
    ]
