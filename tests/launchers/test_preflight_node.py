"""The node preflight checks (recipe.aero.preflight_node) on the real composed config: each one fails, naming its key
or file, and passes once the config (or environment, or model file) is fixed.

EOS fixtures are tiny local model directories written by the test with aero_cpu.tiny_assets' byte-level tokenizer
and its ChatML template (turns end with ``<|im_end|>``): one set up like a Qwen2.5 instruct model (EOS
``<|im_end|>``) and one like a Qwen2.5 base model (EOS ``<|endoftext|>`` only).
"""

import copy
import json
import sys

import pytest
from omegaconf import open_dict

from aero_cpu.tiny_assets import SPECIAL_TOKENS, build_tokenizer
from recipe.aero import eos_check
from recipe.aero.preflight import PreflightError, compose_launch_config, validate_launch_config

REWARD = [
    "reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward",
    "reward.custom_reward_function.name=compute_score",
]
ENDOFTEXT, IM_END = SPECIAL_TOKENS.index("<|endoftext|>"), SPECIAL_TOKENS.index("<|im_end|>")
WANDB_ENV = ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_MODE", "WANDB_BASE_URL")
RECOMPUTE = "actor_rollout_ref.actor.megatron.override_transformer_config"


@pytest.fixture(autouse=True)
def no_wandb_credentials(monkeypatch, tmp_path):
    """No wandb credentials unless a test sets them (an empty netrc location)."""
    for name in WANDB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))


@pytest.fixture(scope="module")
def aero_fsdp():
    return compose_launch_config(["trainer.n_gpus_per_node=4", *REWARD])


@pytest.fixture(scope="module")
def grpo_megatron():
    return compose_launch_config(
        [
            "algorithm.adv_estimator=grpo",
            "model_engine=megatron",
            "actor_rollout_ref.actor.megatron.tensor_model_parallel_size=4",
            f"{RECOMPUTE}.recompute_granularity=full",
            f"{RECOMPUTE}.recompute_method=uniform",
            f"{RECOMPUTE}.recompute_num_layers=1",
            "actor_rollout_ref.rollout.n=8",
            "trainer.n_gpus_per_node=8",
            *REWARD,
        ]
    )


def _with(cfg, **updates):
    changed = copy.deepcopy(cfg)
    with open_dict(changed):
        for dotted, value in updates.items():
            *parents, leaf = dotted.split("__")
            node = changed
            for parent in parents:
                node = node[parent]
            node[leaf] = value
    return changed


def _errors(cfg) -> list[str]:
    with pytest.raises(PreflightError) as raised:
        validate_launch_config(cfg, check_files=False)
    return raised.value.errors


def _warnings(cfg) -> list[str]:
    return validate_launch_config(cfg, check_files=False)


# ---- wandb in trainer.logger ------------------------------------------------------------------------------------


def test_wandb_without_credentials_fails_naming_the_logger_key(aero_fsdp):
    errors = _errors(_with(aero_fsdp, trainer__logger=["console", "wandb"]))
    assert len(errors) == 1
    assert errors[0].startswith("trainer.logger=['console', 'wandb'] includes wandb but no wandb credentials")
    assert "WANDB_MODE=offline" in errors[0]


@pytest.mark.parametrize("variable, value", [("WANDB_API_KEY", "k" * 40), ("WANDB_MODE", "offline")])
def test_wandb_with_key_or_offline_mode_passes(aero_fsdp, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    _warnings(_with(aero_fsdp, trainer__logger=["console", "wandb"]))


def test_wandb_login_netrc_entry_passes(aero_fsdp, monkeypatch, tmp_path):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    _warnings(_with(aero_fsdp, trainer__logger=["console", "wandb"]))


def test_recipe_default_logger_has_no_wandb(aero_fsdp):
    assert list(aero_fsdp.trainer.logger) == ["console", "file"]
    _warnings(aero_fsdp)


# ---- math_verify for the recipe's reward ------------------------------------------------------------------------


def test_missing_math_verify_fails_naming_the_reward_key(aero_fsdp, monkeypatch):
    monkeypatch.setitem(sys.modules, "math_verify", None)  # `import math_verify` now raises ImportError
    errors = _errors(aero_fsdp)
    assert len(errors) == 1
    assert errors[0].startswith("reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward checks")
    assert "(ModuleNotFoundError: import of math_verify halted" in errors[0]


def test_math_verify_importable_passes(aero_fsdp):
    _warnings(aero_fsdp)


def test_math_verify_not_required_by_another_reward(aero_fsdp, monkeypatch, tmp_path):
    reward = tmp_path / "reward.py"
    reward.write_text("def compute_score(**kwargs):\n    return 0.0\n")
    monkeypatch.setitem(sys.modules, "math_verify", None)
    _warnings(_with(aero_fsdp, reward__custom_reward_function__path=str(reward)))


# ---- rollout.full_determinism ------------------------------------------------------------------------------------


def test_full_determinism_with_aero_fails_naming_the_key(aero_fsdp):
    errors = _errors(_with(aero_fsdp, actor_rollout_ref__rollout__full_determinism=True))
    assert len(errors) == 1
    assert errors[0].startswith("actor_rollout_ref.rollout.full_determinism=True gives every vLLM request")
    assert "rescue rounds" in errors[0]


def test_full_determinism_with_grpo_groups_fails(grpo_megatron):
    errors = _errors(_with(grpo_megatron, actor_rollout_ref__rollout__full_determinism=True))
    assert len(errors) == 1 and "the 8 rollouts of a prompt would be identical" in errors[0]


def test_full_determinism_off_or_single_rollout_passes(aero_fsdp, grpo_megatron):
    _warnings(_with(aero_fsdp, actor_rollout_ref__rollout__full_determinism=False))
    single = _with(grpo_megatron, actor_rollout_ref__rollout__full_determinism=True, actor_rollout_ref__rollout__n=1)
    _warnings(single)


# ---- Megatron activation recompute -------------------------------------------------------------------------------


def test_megatron_without_recompute_fails_naming_both_keys(grpo_megatron):
    cfg = _with(grpo_megatron, **{f"{RECOMPUTE.replace('.', '__')}__recompute_granularity": None})
    errors = _errors(cfg)
    assert len(errors) == 1
    assert errors[0].startswith("actor_rollout_ref.model.enable_gradient_checkpointing=True is read only by the FSDP")
    assert f"{RECOMPUTE}.recompute_granularity=full" in errors[0]


def test_megatron_recompute_set_or_checkpointing_declined_passes(grpo_megatron):
    _warnings(grpo_megatron)
    cfg = _with(grpo_megatron, **{f"{RECOMPUTE.replace('.', '__')}__recompute_granularity": None})
    _warnings(_with(cfg, actor_rollout_ref__model__enable_gradient_checkpointing=False))


def test_megatron_full_recompute_needs_method_and_layers(grpo_megatron):
    prefix = RECOMPUTE.replace(".", "__")
    errors = _errors(
        _with(grpo_megatron, **{f"{prefix}__recompute_method": None, f"{prefix}__recompute_num_layers": 0})
    )
    assert errors == [
        f"{RECOMPUTE}.recompute_method=None: full recompute needs uniform or block",
        f"{RECOMPUTE}.recompute_num_layers=0: full recompute needs an integer >= 1",
    ]


def test_fsdp_ignores_megatron_recompute_keys(aero_fsdp):
    assert aero_fsdp.actor_rollout_ref.actor.strategy == "fsdp"
    _warnings(aero_fsdp)  # enable_gradient_checkpointing=True is what FSDP reads


# ---- checkpoint retention ----------------------------------------------------------------------------------------


def test_unbounded_checkpoints_warn_naming_the_key(aero_fsdp):
    cfg = _with(aero_fsdp, trainer__max_actor_ckpt_to_keep=None, trainer__save_freq=50)
    cfg = _with(cfg, trainer__total_training_steps=500)
    warnings = _warnings(cfg)
    assert any(
        w.startswith("trainer.max_actor_ckpt_to_keep=null keeps every") and "10 checkpoints" in w for w in warnings
    )


def test_recipe_keeps_two_checkpoints(aero_fsdp):
    assert aero_fsdp.trainer.max_actor_ckpt_to_keep == 2
    cfg = _with(aero_fsdp, trainer__save_freq=50, trainer__total_training_steps=500)
    assert not any("max_actor_ckpt_to_keep" in w for w in _warnings(cfg))


# ---- EOS vs chat template, on local model files ------------------------------------------------------------------


def _model_dir(path, eos_token: str, generation_eos=None, config_eos=None):
    """A tokenizer-only model directory: ChatML template, the given tokenizer EOS, optional generation/config json."""
    tokenizer = build_tokenizer(path)
    tokenizer.eos_token = eos_token
    tokenizer.save_pretrained(path)
    if generation_eos is not None:
        (path / "generation_config.json").write_text(json.dumps({"eos_token_id": generation_eos}))
    if config_eos is not None:
        (path / "config.json").write_text(json.dumps({"model_type": "qwen2", "eos_token_id": config_eos}))
    return path


def test_base_model_without_turn_end_eos_fails_naming_the_file(aero_fsdp, tmp_path):
    model = _model_dir(tmp_path / "base", "<|endoftext|>", generation_eos=ENDOFTEXT)
    errors = _errors(_with(aero_fsdp, actor_rollout_ref__model__path=str(model)))
    assert len(errors) == 1
    assert errors[0].startswith(f"actor_rollout_ref.model.path={model}: the chat template ends an assistant turn with")
    assert f"'<|im_end|>' (id {IM_END})" in errors[0]
    assert f"Add {IM_END} to eos_token_id in {model / 'generation_config.json'}" in errors[0]


def test_base_model_with_turn_end_in_generation_config_passes(aero_fsdp, tmp_path):
    model = _model_dir(tmp_path / "base_fixed", "<|endoftext|>", generation_eos=[ENDOFTEXT, IM_END])
    assert not any("EOS" in w for w in _warnings(_with(aero_fsdp, actor_rollout_ref__model__path=str(model))))


def test_instruct_like_tokenizer_eos_passes(aero_fsdp, tmp_path):
    model = _model_dir(tmp_path / "instruct", "<|im_end|>", generation_eos=ENDOFTEXT)
    _warnings(_with(aero_fsdp, actor_rollout_ref__model__path=str(model)))


def test_config_json_eos_is_read_when_generation_config_is_absent(aero_fsdp, tmp_path):
    failing = _model_dir(tmp_path / "cfg_bad", "<|endoftext|>", config_eos=ENDOFTEXT)
    assert any(
        e.startswith(f"actor_rollout_ref.model.path={failing}")
        for e in _errors(_with(aero_fsdp, actor_rollout_ref__model__path=str(failing)))
    )
    passing = _model_dir(tmp_path / "cfg_ok", "<|endoftext|>", config_eos=[ENDOFTEXT, IM_END])
    _warnings(_with(aero_fsdp, actor_rollout_ref__model__path=str(passing)))
    # With a generation_config.json, vLLM reads the EOS ids from it alone: config.json's do not count.
    shadowed = _model_dir(tmp_path / "cfg_shadowed", "<|endoftext|>", ENDOFTEXT, config_eos=[ENDOFTEXT, IM_END])
    assert any(
        e.startswith(f"actor_rollout_ref.model.path={shadowed}")
        for e in _errors(_with(aero_fsdp, actor_rollout_ref__model__path=str(shadowed)))
    )


def test_custom_chat_template_is_the_one_checked(aero_fsdp, tmp_path):
    model = _model_dir(tmp_path / "base_custom", "<|endoftext|>", generation_eos=ENDOFTEXT)
    template = "{% for m in messages %}{{ m['content'] + '<|endoftext|>' }}{% endfor %}"
    cfg = _with(aero_fsdp, actor_rollout_ref__model__path=str(model))
    _warnings(_with(cfg, actor_rollout_ref__model__custom_chat_template=template))


def test_template_without_end_token_is_an_undecided_warning(aero_fsdp, tmp_path):
    model = _model_dir(tmp_path / "plain", "<|endoftext|>", generation_eos=ENDOFTEXT)
    cfg = _with(aero_fsdp, actor_rollout_ref__model__path=str(model))
    cfg = _with(
        cfg, actor_rollout_ref__model__custom_chat_template="{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    warnings = _warnings(cfg)
    assert any(w.startswith(f"actor_rollout_ref.model.path={model}: EOS check undecided") for w in warnings)


def test_model_not_local_is_a_warning(aero_fsdp):
    warnings = _warnings(_with(aero_fsdp, actor_rollout_ref__model__path="aero-test/not-in-any-cache"))
    assert any(
        w.startswith("actor_rollout_ref.model.path=aero-test/not-in-any-cache: no local files") for w in warnings
    )


def test_eos_check_cli(tmp_path, capsys):
    bad = _model_dir(tmp_path / "bad", "<|endoftext|>", generation_eos=ENDOFTEXT)
    good = _model_dir(tmp_path / "good", "<|endoftext|>", generation_eos=[ENDOFTEXT, IM_END])
    assert eos_check.main([str(bad)]) == 1
    assert "WOULD NOT STOP" in capsys.readouterr().out
    assert eos_check.main([str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{IM_END} (generation_config.json eos_token_id)" in out and out.rstrip().endswith("OK")
    assert eos_check.main(["aero-test/not-in-any-cache"]) == 2
