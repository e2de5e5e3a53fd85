"""Fast checks of the CPU harness pieces the e2e runs rely on (no Ray, no trainer)."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_module

from aero_cpu.launcher import read_run_history
from aero_cpu.overrides import cpu_overrides, runtime_env_overrides, tiny_run_overrides
from aero_cpu.tiny_assets import SPEC_FILE, TinyAssetSpec, build_all


def test_run_history_is_read_by_the_recipe_parser_and_names_bad_lines(tmp_path):
    path = tmp_path / "m.jsonl"
    assert read_run_history(path) == {}  # the driver failed before verl opened its logger
    lines = [{"step": 1, "data": {"a": 1.5}}, {"step": 2, "data": {}}, {"step": 1, "data": {"val": 2}}]
    path.write_text("\n\n".join(json.dumps(line) for line in lines) + "\n")
    assert read_run_history(path) == {1: {"a": 1.5, "val": 2}, 2: {}}
    path.write_text(json.dumps({"step": 1, "data": {}}) + "\n{not json\n" + json.dumps({"step": 2, "data": {}}))
    with pytest.raises(ValueError, match=r"m\.jsonl:2"):
        read_run_history(path)


def test_overrides_compose_with_verl_ppo_config_and_keep_env_values_strings(tiny_assets):
    overrides = [*cpu_overrides(n_gpus=2), *tiny_run_overrides(tiny_assets), *runtime_env_overrides({"X": "1"})]
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=overrides)
    env_vars = cfg.ray_kwargs.ray_init.runtime_env.env_vars
    assert env_vars.VERL_PLATFORM == "cpu" and env_vars.X == "1" and isinstance(env_vars.X, str)
    assert cfg.actor_rollout_ref.rollout.name == "vllm"
    assert cfg.actor_rollout_ref.rollout.enable_sleep_mode is False and cfg.actor_rollout_ref.rollout.dtype == "float32"
    assert cfg.actor_rollout_ref.actor.use_dynamic_bsz is True
    assert cfg.ray_kwargs.ray_init.num_gpus == 2 == cfg.trainer.n_gpus_per_node
    assert cfg.actor_rollout_ref.model.path == str(tiny_assets.model_dir)


def test_tiny_assets_are_reused_for_the_same_spec_and_rebuilt_for_another(tmp_path):
    spec = TinyAssetSpec(num_train_rows=5, num_val_rows=2)
    paths = build_all(tmp_path, spec)
    stamp = (paths.model_dir / "model.safetensors").stat().st_mtime_ns
    assert build_all(tmp_path, spec) == paths
    assert (paths.model_dir / "model.safetensors").stat().st_mtime_ns == stamp
    build_all(tmp_path, TinyAssetSpec(num_train_rows=6, num_val_rows=2))
    assert json.loads((tmp_path / SPEC_FILE).read_text())["num_train_rows"] == 6
    import pandas as pd

    rows = pd.read_parquet(paths.train_file)
    assert len(rows) == 6 and rows["extra_info"].map(lambda e: e["index"]).is_unique
