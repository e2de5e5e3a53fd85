"""Preflight checks for what breaks, or silently mis-trains, only once a run is on a real multi-GPU node.

Each check reads the composed launch config (and, where named, the environment or the model's local files), appends
one message per problem that names the key or file and says how to fix it, and starts nothing. They complement
:mod:`recipe.aero.preflight` (config consistency); :func:`check_node` runs them all and is called from
:func:`recipe.aero.preflight.validate_launch_config`.
"""

from __future__ import annotations

import importlib
import netrc
import os
from urllib.parse import urlsplit

from recipe.aero.eos_check import check_model_eos, describe, local_model_dir

AERO_REWARD_MODULE = "recipe.aero.reward.math_reward"
WANDB_DEFAULT_HOST = "https://api.wandb.ai"
WANDB_NO_LOGIN_MODES = ("offline", "disabled", "dryrun")
RECOMPUTE_KEY = "actor_rollout_ref.actor.megatron.override_transformer_config"
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


def _logger_names(cfg) -> list[str]:
    value = cfg.trainer.get("logger") or []
    return [value] if isinstance(value, str) else list(value)


def wandb_credentials_source(environ=os.environ) -> str | None:
    """Where wandb would find credentials or a no-login mode, as wandb itself looks; None when nowhere.

    Looks at ``WANDB_MODE`` (offline / disabled), ``WANDB_API_KEY``, ``WANDB_IDENTITY_TOKEN_FILE`` and the netrc
    file (``$NETRC``, else ``~/.netrc``) entry of ``WANDB_BASE_URL``'s host, which ``wandb login`` writes.
    """
    mode = environ.get("WANDB_MODE", "")
    if mode in WANDB_NO_LOGIN_MODES:
        return f"WANDB_MODE={mode}"
    for variable in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        if environ.get(variable):
            return variable
    path = environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    host = urlsplit(environ.get("WANDB_BASE_URL") or WANDB_DEFAULT_HOST).netloc
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    return f"{path} ({host})" if entry and entry[2] else None


def check_logger(cfg, errors: list[str]) -> None:
    """``wandb`` in ``trainer.logger`` needs credentials: wandb.init runs after Ray, vLLM and the actor started.

    Without them, a batch job fails or waits for interactive input minutes into the run.
    """
    if "wandb" in _logger_names(cfg) and wandb_credentials_source() is None:
        errors.append(
            f"trainer.logger={_logger_names(cfg)} includes wandb but no wandb credentials were found (WANDB_API_KEY, "
            "WANDB_IDENTITY_TOKEN_FILE, a ~/.netrc entry from `wandb login`): wandb.init would fail or wait for input "
            "after Ray, vLLM and the actor have started. Export WANDB_API_KEY, run `wandb login`, set "
            'WANDB_MODE=offline, or drop wandb (LOGGER=\'["console","file"]\' for the launchers)'
        )


def check_math_verify(cfg, errors: list[str]) -> None:
    """The recipe's reward needs ``math_verify``; without it every non-identical answer scores 0 (reward_error=1)."""
    path = str(cfg.reward.custom_reward_function.get("path") or "")
    as_module = path.removeprefix("pkg://").replace("/", ".")
    if as_module != AERO_REWARD_MODULE and not as_module.endswith(f"{AERO_REWARD_MODULE}.py"):
        return  # another reward function: its dependencies are its own
    try:
        module = importlib.import_module("math_verify")
        for name in ("ExprExtractionConfig", "LatexExtractionConfig", "parse", "verify"):  # what verify_worker uses
            getattr(module, name)
    except Exception as error:  # ImportError, or an old math_verify without these names
        errors.append(
            f"reward.custom_reward_function.path={path} checks answers with math_verify, but it does not import here "
            f"({type(error).__name__}: {error}): every answer that is not string-identical to the ground truth "
            "would score 0 with reward_error=1. Install it in the environment of the Ray workers: "
            "pip install -c constraints-gpu.txt math-verify"
        )


def check_determinism(cfg, errors: list[str]) -> None:
    """``rollout.full_determinism`` gives every vLLM request on a replica the same seed.

    verl 0.9.1's vLLM server sets ``seed = replica_rank + rollout.seed`` on each request, so the rollouts of one
    prompt repeat each other: AERO's rescue rounds would resample the answers they are meant to replace, and a GRPO
    group of identical answers has zero advantage.
    """
    rollout = cfg.actor_rollout_ref.rollout
    if not rollout.get("full_determinism", False):
        return
    if adaptive_rollout(cfg):
        consequence = "AERO's rescue rounds would repeat the samples they are meant to replace"
    elif rollout.n > 1:
        consequence = f"the {rollout.n} rollouts of a prompt would be identical (zero-variance groups)"
    else:
        return
    errors.append(
        "actor_rollout_ref.rollout.full_determinism=True gives every vLLM request on a replica the same seed "
        f"(replica_rank + actor_rollout_ref.rollout.seed): {consequence}. Set it to False (data order and "
        "initialisation stay seeded)"
    )


def adaptive_rollout(cfg) -> bool:
    """Whether the run uses AERO's adaptive rollouts: ragged, curated groups of up to ``algorithm.aero.budget``.

    An invalid ``algorithm.aero`` block is reported by the preflight's own check; the other checks then assume
    AERO's default halves so that they still report their own problems.
    """
    from recipe.aero.core.config import AeroConfigError, Arm

    try:
        return Arm.from_algorithm(cfg.algorithm).adaptive_rollout
    except AeroConfigError:
        return cfg.algorithm.adv_estimator == "aero"


def check_megatron_recompute(cfg, errors: list[str]) -> None:
    """Megatron ignores ``model.enable_gradient_checkpointing``; its activation recompute has its own keys."""
    actor = cfg.actor_rollout_ref.actor
    if actor.strategy != "megatron":
        return
    override = actor.megatron.get("override_transformer_config") or {}
    granularity = override.get("recompute_granularity")
    if granularity is None:
        if cfg.actor_rollout_ref.model.get("enable_gradient_checkpointing", False):
            errors.append(
                "actor_rollout_ref.model.enable_gradient_checkpointing=True is read only by the FSDP and VeOmni "
                "engines; the Megatron actor would run without activation recompute. Set "
                f"{RECOMPUTE_KEY}.recompute_granularity=full, .recompute_method=uniform, .recompute_num_layers=1 "
                "(or enable_gradient_checkpointing=False to run without recompute knowingly)"
            )
        return
    if granularity not in ("full", "selective"):
        errors.append(f"{RECOMPUTE_KEY}.recompute_granularity={granularity}: must be full or selective")
    elif granularity == "full":
        method, layers = override.get("recompute_method"), override.get("recompute_num_layers")
        if method not in ("uniform", "block"):
            errors.append(f"{RECOMPUTE_KEY}.recompute_method={method}: full recompute needs uniform or block")
        if not isinstance(layers, int) or layers < 1:
            errors.append(f"{RECOMPUTE_KEY}.recompute_num_layers={layers}: full recompute needs an integer >= 1")


def check_checkpoint_retention(cfg, warnings: list[str]) -> None:
    """Checkpoints with optimizer state pile up when ``max_actor_ckpt_to_keep`` is unset (verl keeps them all)."""
    trainer = cfg.trainer
    save_freq, steps = trainer.get("save_freq", -1), trainer.get("total_training_steps")
    if trainer.get("max_actor_ckpt_to_keep") is None and save_freq and save_freq > 0:
        count = f"{steps // save_freq} checkpoints" if steps else "one checkpoint per save"
        warnings.append(
            f"trainer.max_actor_ckpt_to_keep=null keeps every actor checkpoint (trainer.save_freq={save_freq}: "
            f"{count}, each with optimizer state); set it, e.g. 2"
        )


def check_model_stops(cfg, errors: list[str], warnings: list[str]) -> None:
    """The chat template's end-of-turn token must be one vLLM stops at (read from the model's local files)."""
    model = cfg.actor_rollout_ref.model
    path = str(model.path)
    model_dir = local_model_dir(path)
    if model_dir is None:
        warnings.append(
            f"actor_rollout_ref.model.path={path}: no local files (not a directory, not in the Hugging Face cache), "
            "so the EOS vs chat template check did not run; run `python -m recipe.aero.eos_check DIR` on the "
            "downloaded model, or watch response_length/clip_ratio in run_scripts/run_gpu_smoke.sh"
        )
        return
    tokenizer_path = model.get("tokenizer_path")
    tokenizer_dir = (local_model_dir(str(tokenizer_path)) if tokenizer_path else None) or model_dir
    if not any((tokenizer_dir / name).is_file() for name in TOKENIZER_FILES):
        warnings.append(
            f"actor_rollout_ref.model.path={path}: no tokenizer files ({', '.join(TOKENIZER_FILES)}) in "
            f"{tokenizer_dir}, so the EOS vs chat template check did not run"
        )
        return
    try:
        report = check_model_eos(
            model_dir,
            custom_chat_template=model.get("custom_chat_template"),
            tokenizer_dir=tokenizer_dir,
            trust_remote_code=bool(model.get("trust_remote_code", False)),
        )
    except Exception as error:  # unreadable tokenizer files: the launch would fail on them too
        errors.append(f"actor_rollout_ref.model.path={path}: tokenizer in {model_dir} does not load ({error})")
        return
    verdict = report.stops_at_turn_end
    if verdict is None:
        warnings.append(f"actor_rollout_ref.model.path={path}: EOS check undecided: {report.problem}")
    elif not verdict:
        errors.append(
            f"actor_rollout_ref.model.path={path}: {describe(report)}, so responses would run to "
            f"data.max_response_length={cfg.data.max_response_length} and the reward would read a runaway "
            f"continuation. Add {report.end_token_id} to eos_token_id in {model_dir / 'generation_config.json'} "
            "(a local copy of the model), or set actor_rollout_ref.model.custom_chat_template to a template whose "
            "turns end with an EOS token"
        )


def check_node(cfg, errors: list[str], warnings: list[str]) -> None:
    """All checks of this module (see each function for why)."""
    check_logger(cfg, errors)
    check_math_verify(cfg, errors)
    check_determinism(cfg, errors)
    check_megatron_recompute(cfg, errors)
    check_checkpoint_retention(cfg, warnings)
    check_model_stops(cfg, errors, warnings)
