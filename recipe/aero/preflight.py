"""Launch checks that run on the composed Hydra config before Ray starts (and a dry-run CLI for the launchers).

Why: a paper-scale run spends minutes starting Ray, vLLM and Megatron before a bad key or an indivisible batch size
surfaces, and some mistakes never surface at all (legacy reward keys are parsed and silently ignored by verl 0.9.1).
Every error names the config key it is about.

CLI (what ``DRY_RUN=1`` launchers run)::

    python -m recipe.aero.preflight [--skip-data-check] <hydra overrides...>

composes ``recipe/aero/config/aero_trainer.yaml`` with Hydra's compose API (so an unknown or misspelled key fails
exactly as in a real launch), prints the resolved config and the check result, and exits non-zero on any error. It
imports no worker code and starts no Ray cluster.
"""

import importlib.util
import os
import sys
from collections.abc import Iterator
from typing import Any

from recipe.aero.preflight_cluster import check_cluster
from recipe.aero.preflight_node import adaptive_rollout, check_node
from verl_patches.any_platform import vllm_abort_request
from verl_patches.version import installed_vllm

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config")
CONFIG_NAME = "aero_trainer"
AERO_REWARD_PATH = "pkg://recipe.aero.reward.math_reward"
# Top-level groups from verl's legacy_reward_impl.yaml: parsed, but ignored by verl 0.9.1's main.
LEGACY_REWARD_GROUPS = {
    "custom_reward_function": "reward.custom_reward_function",
    "reward_model": "reward.reward_manager / reward.reward_model",
    "sandbox_fusion": "reward.sandbox_fusion",
}


class PreflightError(ValueError):
    """The launch config is invalid; ``errors`` lists every problem found, each naming its key."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("launch config invalid:\n  - " + "\n  - ".join(errors))
        self.errors = errors


def _leaves(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    from omegaconf import DictConfig

    if isinstance(node, DictConfig):
        for key in node:
            yield from _leaves(node[key], f"{prefix}.{key}")
    else:
        yield prefix, node


def _check_aero(cfg, errors: list[str]) -> None:
    """``algorithm.aero`` and ``trainer.v1.aero`` must build their configs (unknown keys and bad ranges refused)."""
    from recipe.aero.core.config import AeroConfig, AeroConfigError, AeroTrainerConfig

    for config_class, block in (
        (AeroConfig, cfg.algorithm.get("aero")),
        (AeroTrainerConfig, cfg.trainer.v1.get("aero")),
    ):
        try:
            config_class.from_mapping(block)
        except AeroConfigError as error:
            errors.append(str(error))


def _check_dynamic_bsz(cfg, errors: list[str]) -> None:
    """AERO's groups are ragged (explore + rescue rounds, curation), so fixed micro-batches hit verl's asserts."""
    if not adaptive_rollout(cfg):
        return
    arr = cfg.actor_rollout_ref
    keys = {
        "actor_rollout_ref.actor.use_dynamic_bsz": arr.actor.use_dynamic_bsz,
        "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz": arr.rollout.log_prob_use_dynamic_bsz,
    }
    if _needs_reference(cfg):
        keys["actor_rollout_ref.ref.log_prob_use_dynamic_bsz"] = arr.ref.log_prob_use_dynamic_bsz
    for key, value in keys.items():
        if not value:
            errors.append(f"{key}={value}: AERO groups have ragged sizes; set it to True (token-budget micro-batches)")


def _check_token_budgets(cfg, errors: list[str]) -> None:
    """A dynamic micro-batch must hold one full sequence, else verl asserts on the first long response."""
    arr = cfg.actor_rollout_ref
    sequence = cfg.data.max_prompt_length + cfg.data.max_response_length
    budgets = [
        ("actor_rollout_ref.actor", "use_dynamic_bsz", "ppo_max_token_len_per_gpu"),
        ("actor_rollout_ref.rollout", "log_prob_use_dynamic_bsz", "log_prob_max_token_len_per_gpu"),
        ("actor_rollout_ref.ref", "log_prob_use_dynamic_bsz", "log_prob_max_token_len_per_gpu"),
    ]
    for section, switch, budget in budgets:
        node = arr[section.rsplit(".", 1)[1]]
        if node.get(switch) and node[budget] < sequence:
            errors.append(
                f"{section}.{budget}={node[budget]}: below data.max_prompt_length + data.max_response_length = "
                f"{sequence}"
            )


def _check_fsdp_offload(cfg, errors: list[str]) -> None:
    """``fsdp_config.offload_policy`` (FSDP2's CPUOffloadPolicy: the optimizer step on the CPU) works only with FSDP2.

    verl 0.9.1's FSDP engine reads it in its ``fsdp2`` branch only (workers/engine/fsdp/transformer_impl.py); with
    ``strategy=fsdp`` it is silently ignored, so a 7B actor that relied on it keeps its fp32 parameters, gradients and
    Adam state (about 122 GB) on the GPU for the update: out of memory at the first step.
    """
    actor = cfg.actor_rollout_ref.actor
    if actor.get("strategy") == "fsdp" and (actor.get("fsdp_config") or {}).get("offload_policy"):
        errors.append(
            f"actor_rollout_ref.actor.fsdp_config.offload_policy=True with actor_rollout_ref.actor.strategy="
            f"{actor.strategy}: verl applies it with strategy=fsdp2 only; set actor_rollout_ref.actor.strategy=fsdp2"
        )


def _needs_reference(cfg) -> bool:
    return bool(cfg.algorithm.get("use_kl_in_reward", False) or cfg.actor_rollout_ref.actor.use_kl_loss)


def _data_parallel_size(cfg, n_gpus: int, errors: list[str]) -> int | None:
    """Actor data-parallel size: n_gpus / (TP * PP * CP) for Megatron, n_gpus / Ulysses SP for FSDP."""
    actor = cfg.actor_rollout_ref.actor
    if actor.strategy == "megatron":
        prefix = "actor_rollout_ref.actor.megatron"
        names = ["tensor_model_parallel_size", "pipeline_model_parallel_size", "context_parallel_size"]
        model_parallel = {f"{prefix}.{name}": actor.megatron[name] for name in names}
    else:
        sequence_parallel = actor.get("ulysses_sequence_parallel_size", 1)
        model_parallel = {"actor_rollout_ref.actor.ulysses_sequence_parallel_size": sequence_parallel}
    product = 1
    for size in model_parallel.values():
        product *= size
    if product < 1 or n_gpus % product:
        keys = " * ".join(f"{key}={size}" for key, size in model_parallel.items())
        errors.append(f"{keys} = {product} does not divide trainer.n_gpus_per_node * trainer.nnodes = {n_gpus}")
        return None
    return n_gpus // product


def _check_batches(cfg, errors: list[str]) -> None:
    """Batch / mini-batch / micro-batch / GPU divisibility, mirroring how verl splits the batch."""
    actor = cfg.actor_rollout_ref.actor
    rollout = cfg.actor_rollout_ref.rollout
    n_gpus = cfg.trainer.n_gpus_per_node * cfg.trainer.nnodes
    train_batch, mini_batch = cfg.data.train_batch_size, actor.ppo_mini_batch_size
    if mini_batch < 1 or train_batch % mini_batch:
        errors.append(
            f"data.train_batch_size={train_batch} is not a multiple of actor_rollout_ref.actor.ppo_mini_batch_size="
            f"{mini_batch} (prompts per optimizer step)"
        )
    if n_gpus % rollout.tensor_model_parallel_size:
        errors.append(
            f"actor_rollout_ref.rollout.tensor_model_parallel_size={rollout.tensor_model_parallel_size} does not "
            f"divide trainer.n_gpus_per_node * trainer.nnodes = {n_gpus}"
        )
    if adaptive_rollout(cfg) and cfg.critic.get("enable"):
        errors.append(
            "critic.enable=True: AERO's update plan (algorithm.aero.update_sizing) sizes the actor's mini-batches of "
            "its curated batch, and a critic's update would pad that batch back to GRPO's mini-batch; AERO's "
            "estimator needs no critic, set critic.enable=False"
        )
    dp = _data_parallel_size(cfg, n_gpus, errors)
    if dp is None or adaptive_rollout(cfg):
        return  # AERO mini-batches have ragged sizes: verl pads them to dp; dynamic bsz is checked instead
    per_mini = mini_batch * rollout.n
    if per_mini % dp:
        errors.append(
            f"actor_rollout_ref.actor.ppo_mini_batch_size={mini_batch} * actor_rollout_ref.rollout.n={rollout.n} "
            f"= {per_mini} trajectories is not divisible by the actor data-parallel size {dp}"
        )
    elif (
        not actor.use_dynamic_bsz
        and actor.ppo_micro_batch_size_per_gpu
        and (per_mini // dp) % (actor.ppo_micro_batch_size_per_gpu)
    ):
        errors.append(
            f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={actor.ppo_micro_batch_size_per_gpu} does not "
            f"divide the {per_mini // dp} trajectories per GPU of one mini-batch"
        )


def _check_reward(cfg, errors: list[str], warnings: list[str]) -> None:
    """The custom reward module and function must exist; without one, unknown data_sources crash verl."""
    reward_fn = cfg.reward.custom_reward_function
    path, name = reward_fn.get("path"), reward_fn.get("name")
    if not path:
        warnings.append(
            "reward.custom_reward_function.path is unset: verl's default_compute_score raises NotImplementedError "
            f"for data_source names it does not know; the recipe's reward is {AERO_REWARD_PATH} (compute_score)"
        )
        return
    if path.startswith("pkg://"):
        module = path[len("pkg://") :].replace("/", ".")
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            errors.append(f"reward.custom_reward_function.path={path}: module {module} not importable")
            return
    elif not os.path.isfile(path.removeprefix("file://")):
        errors.append(f"reward.custom_reward_function.path={path}: file not found")
        return
    from verl.utils.import_utils import load_extern_object

    try:
        load_extern_object(module_path=path, object_name=name)
    except Exception as error:  # an import error inside the module is as fatal as a missing function
        errors.append(f"reward.custom_reward_function.name={name} (path {path}): {type(error).__name__}: {error}")


def _check_legacy_keys(cfg, errors: list[str]) -> None:
    """Refuses legacy top-level reward keys, which verl 0.9.1 parses and then silently ignores."""
    for group, replacement in LEGACY_REWARD_GROUPS.items():
        if group not in cfg:
            continue
        for key, value in _leaves(cfg[group], group):
            if value is not None:
                errors.append(f"{key}={value!r} is a legacy key that verl 0.9.1 ignores; use {replacement}")


def _check_files(cfg, errors: list[str]) -> None:
    """Train/val parquet files (and a local model directory) must exist and every row must hold the columns verl and
    AERO read (``recipe.aero.data_schema``); training rows need unique prompt ids."""
    from recipe.aero.data_schema import check_data_file
    from recipe.aero.prompt_ids import PromptIdError, check_prompt_ids

    prompt_key = cfg.data.get("prompt_key", "prompt")
    for key in ("data.train_files", "data.val_files"):
        files = cfg.data.get(key.split(".")[1])
        paths = [files] if isinstance(files, str) else list(files or [])
        missing = [path for path in paths if not os.path.exists(os.path.expanduser(path))]
        for path in missing:
            errors.append(f"{key}: {path} does not exist (prepare it with data_prep/prepare_all.sh)")
        schema_problems = [
            f"{key}: {problem}"
            for path in paths
            if path not in missing
            for problem in check_data_file(os.path.expanduser(path), prompt_key)
        ]
        errors.extend(schema_problems)
        if key == "data.train_files" and paths and not missing and not schema_problems:
            try:
                check_prompt_ids([os.path.expanduser(path) for path in paths])
            except (PromptIdError, OSError, ValueError) as error:  # a file rewritten since its schema check included
                errors.append(f"{key}: {error}")
    model_path = str(cfg.actor_rollout_ref.model.path)
    if model_path.startswith(("/", "~", ".")) and not os.path.isdir(os.path.expanduser(model_path)):
        errors.append(f"actor_rollout_ref.model.path: local directory {model_path} does not exist")


def _check_with_verl(cfg, errors: list[str]) -> None:
    """verl's own start-up validation, on a copy with the derived settings (``apply_derived_settings``)."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    effective = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    apply_derived_settings(effective)
    try:
        validate_config(effective, need_reference_policy(effective), need_critic(effective))
    except (AssertionError, ValueError) as error:
        errors.append(f"verl validate_config: {error}")


def apply_derived_settings(cfg) -> None:
    """Sets what AERO derives from its own keys (the one place it is derived): with adaptive rollouts,
    ``actor_rollout_ref.rollout.n = algorithm.aero.budget``; with the rescue race, ``AERO_VLLM_ABORT_BY_ID=1`` in
    ``ray_kwargs.ray_init.runtime_env.env_vars``.

    verl sizes PPO mini-batches as ``ppo_mini_batch_size * rollout.n`` trajectories, so both arms then split their
    batches alike; the number of rollouts each prompt really gets is decided by the AERO agent loop. The variable
    reaches every Ray worker, the vLLM servers among them, whose ``import verl`` then applies verl_patches P10 (the
    race's abort) on any platform.
    """
    from omegaconf import open_dict

    if adaptive_rollout(cfg):
        with open_dict(cfg):
            cfg.actor_rollout_ref.rollout.n = cfg.algorithm.aero.budget
    if rescue_race(cfg):
        with open_dict(cfg):
            runtime_env = cfg.ray_kwargs.ray_init.runtime_env
            if runtime_env.get("env_vars") is None:
                runtime_env.env_vars = {}
            runtime_env.env_vars[vllm_abort_request.ABORT_BY_ID_ENV] = "1"


def _check_trainer(cfg, errors: list[str]) -> None:
    """The AERO trainer is a V1 trainer; rescue needs rewards computed while rolling out."""
    if not cfg.trainer.use_v1 or cfg.trainer.v1.trainer_mode != "aero":
        errors.append(
            "trainer.use_v1 / trainer.v1.trainer_mode: recipe.aero.main_aero needs use_v1=true and trainer_mode=aero "
            f"(the defaults of aero_trainer.yaml); got use_v1={cfg.trainer.use_v1}, "
            f"trainer_mode={cfg.trainer.v1.trainer_mode}"
        )
    reward_model = cfg.reward.reward_model
    if reward_model.enable and not reward_model.get("enable_resource_pool", False):
        errors.append(
            "reward.reward_model.enable: a colocated reward model scores only after sampling, but AERO and the "
            "sampler need each rollout's reward while rolling out; set reward.reward_model.enable_resource_pool=true"
        )


def rescue_race(cfg) -> bool:
    """Whether the run races its rescue rounds, aborting vLLM requests (``algorithm.aero.rescue_race``, §2.3)."""
    return adaptive_rollout(cfg) and bool((cfg.algorithm.get("aero") or {}).get("rescue_race", False))


def _check_rescue_race(cfg, errors: list[str]) -> None:
    """The race aborts vLLM requests by their internal ids, which verl_patches P10 reads for the vLLMs it knows only.

    On any other vLLM every sibling would run to its end (verl's own abort never finds a running request), so the
    race would spend the whole remaining budget of every rescued prompt and save nothing.
    """
    if not rescue_race(cfg):
        return
    problem = vllm_abort_request.unsupported_vllm(installed_vllm())
    if problem is not None:
        errors.append(f"algorithm.aero.rescue_race=True: {problem}. Set algorithm.aero.rescue_race=false")


def _check_sampler_keys(cfg, errors: list[str]) -> None:
    """verl sampler keys that the AERO trainer's own replay buffer does not implement are refused, not ignored.

    ``AeroReplayBuffer`` (both arms) curates the step's whole groups and removes failed prompts from the update;
    DAPO-style group filtering, refilling failed groups and a user's sampler class would each change which groups a
    step trains on behind the accounting's back.
    """
    if cfg.algorithm.get("filter_groups") is not None and cfg.algorithm.filter_groups.get("enable", False):
        errors.append(
            "algorithm.filter_groups.enable: DAPO group filtering is not supported by recipe.aero.main_aero (AERO "
            "replaces it with rescue and curation; for the GRPO arm run verl's own main_ppo); set it to false"
        )
    sampler = cfg.trainer.v1.get("sampler") or {}
    if sampler.get("sync_refill_failed_groups", False):
        errors.append(
            "trainer.v1.sampler.sync_refill_failed_groups: not supported by the AERO trainer, which leaves a failed "
            "prompt out of the update and counts it (aero/failed/prompts); set it to false"
        )
    custom = sampler.get("custom_sampler") or {}
    if custom.get("path"):
        errors.append(
            f"trainer.v1.sampler.custom_sampler.path={custom.get('path')}: the AERO trainer builds its own sampler "
            "(recipe.aero.sampler.AeroReplayBuffer); subclass it and AeroTrainer._build_replay_buffer instead"
        )


def validate_launch_config(cfg, check_files: bool = True) -> list[str]:
    """Checks a composed launch config before anything expensive starts.

    Args:
        cfg: The composed Hydra config (``aero_trainer`` plus overrides), as the main receives it.
        check_files: Also require the data files and a local model directory to exist, and, when the run attaches
            to a running Ray cluster, check it from every node (:mod:`recipe.aero.preflight_cluster`); off for CI
            dry runs.

    Returns:
        Warnings (non-fatal).

    Raises:
        PreflightError: Listing every error found, each naming its key.
    """
    errors: list[str] = []
    warnings: list[str] = []
    _check_aero(cfg, errors)
    _check_trainer(cfg, errors)
    _check_sampler_keys(cfg, errors)
    _check_rescue_race(cfg, errors)
    _check_dynamic_bsz(cfg, errors)
    _check_token_budgets(cfg, errors)
    _check_fsdp_offload(cfg, errors)
    _check_batches(cfg, errors)
    _check_reward(cfg, errors, warnings)
    _check_legacy_keys(cfg, errors)
    check_node(cfg, errors, warnings)  # logger credentials, math_verify, determinism, recompute, EOS, checkpoints
    if check_files:
        _check_files(cfg, errors)
        check_cluster(cfg, errors, warnings)  # only with RAY_ADDRESS / ray_kwargs.ray_init.address: every node's view
    if not errors:  # verl's asserts stop at the first problem; ours above are more specific
        _check_with_verl(cfg, errors)
    if errors:
        raise PreflightError(errors)
    return warnings


def compose_launch_config(overrides: list[str]):
    """Composes ``aero_trainer.yaml`` + ``overrides`` exactly as ``@hydra.main`` would (unknown keys fail here)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(config_name=CONFIG_NAME, overrides=overrides)


def main(argv: list[str] | None = None) -> int:
    """Dry run: compose, print the resolved config, validate; 0 when the launch config is valid."""
    from omegaconf import OmegaConf

    args = list(sys.argv[1:] if argv is None else argv)
    check_files = "--skip-data-check" not in args
    overrides = [arg for arg in args if arg != "--skip-data-check"]
    try:
        cfg = compose_launch_config(overrides)
        print(OmegaConf.to_yaml(cfg, resolve=True))
        warnings = validate_launch_config(cfg, check_files=check_files)
    except PreflightError as error:
        print(f"PREFLIGHT FAILED\n{error}", file=sys.stderr)
        return 1
    except Exception as error:  # Hydra override / interpolation errors: report them like a real launch would
        print(f"PREFLIGHT FAILED\n{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"PREFLIGHT WARNING: {warning}", file=sys.stderr)
    print("PREFLIGHT OK" + ("" if check_files else " (data files not checked)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
