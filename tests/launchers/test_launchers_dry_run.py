"""Every paper-scale launcher composes and validates in DRY_RUN=1 mode on CPU (no Ray, no GPU, no model download).

DRY_RUN runs ``python -m recipe.aero.preflight`` with the launcher's exact override list, so a stale or misspelled key
in a launcher fails here as it would at launch. The data files are created empty: the dry run checks that they exist.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from data_prep.common import columns_spec, convert_rows, output_path, write_parquet

REPO = Path(__file__).resolve().parents[2]
LAUNCHERS = sorted(
    p.name for p in (REPO / "run_scripts").glob("run_qwen2.5_*_*.sh") if p.stem.endswith(("aero", "grpo"))
)
DATA_FILES = ["math_dapo", "math_lighteval", "math500", "aime24", "amc23", "minerva", "olympiadbench", "gsm8k"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One-row verl parquet per data source, written by data_prep's own row builder (the dry run reads ids)."""
    directory = tmp_path_factory.mktemp("aero_data")
    for name in DATA_FILES:
        spec = columns_spec(name, "fixture", "test", "problem", "answer")
        records, _ = convert_rows([{"problem": "1+1?", "answer": "2"}], spec, "boxed", "test")
        write_parquet(records, output_path(str(directory), name))
    return directory


def _dry_run(launcher: str, data_dir: Path, *overrides: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WANDB_")},  # no wandb credentials unless given
        "NETRC": str(data_dir / "no_netrc"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # python3 = this venv
        "DRY_RUN": "1",
        "DATA_DIR": str(data_dir),
        **env,
    }
    return subprocess.run(
        ["bash", str(REPO / "run_scripts" / launcher), *overrides],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_all_six_launchers_exist():
    assert LAUNCHERS == [
        f"run_qwen2.5_{model}_{algo}.sh" for model in ["7b", "7b_instruct", "math_1.5b"] for algo in ["aero", "grpo"]
    ]


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launcher_composes_and_validates(launcher, data_dir):
    result = _dry_run(launcher, data_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "PREFLIGHT OK" in result.stdout
    assert "python3 -m recipe.aero.preflight" in result.stderr  # set -x trace: the dry run, not a launch
    algorithm = "aero" if launcher.endswith("_aero.sh") else "grpo"
    assert f"adv_estimator: {algorithm}" in result.stdout
    model = launcher.removeprefix("run_qwen2.5_").removesuffix(f"_{algorithm}.sh")
    assert f"experiment_name: qwen2.5_{model}_{algorithm}" in result.stdout
    assert "path: pkg://recipe.aero.reward.math_reward" in result.stdout
    assert f"{data_dir}/aime24.parquet" in result.stdout
    expected_strategy = "megatron" if launcher.startswith("run_qwen2.5_7b_") and "instruct" not in launcher else "fsdp"
    assert f"strategy: {expected_strategy}" in result.stdout
    trainer = _resolved_config(result)["trainer"]
    assert trainer["max_actor_ckpt_to_keep"] == 2 and trainer["logger"] == ["console", "file"]


def test_misspelled_key_fails_naming_it(data_dir):
    result = _dry_run("run_qwen2.5_math_1.5b_aero.sh", data_dir, "actor_rollout_ref.actor.ppo_mini_batchsize=32")
    assert result.returncode != 0
    assert "ppo_mini_batchsize" in result.stderr and "PREFLIGHT FAILED" in result.stderr


def test_invalid_aero_value_fails_naming_it(data_dir):
    result = _dry_run("run_qwen2.5_7b_instruct_aero.sh", data_dir, "algorithm.aero.budget=2")
    assert result.returncode != 0
    assert "algorithm.aero." in result.stderr and "PREFLIGHT FAILED" in result.stderr


def test_missing_data_file_fails_naming_it(tmp_path):
    result = _dry_run("run_qwen2.5_7b_grpo.sh", tmp_path)
    assert result.returncode != 0
    assert "data.train_files" in result.stderr and "math_dapo.parquet" in result.stderr


def test_indivisible_tensor_parallel_fails_naming_it(data_dir):
    result = _dry_run("run_qwen2.5_7b_aero.sh", data_dir, N_GPUS_PER_NODE="6")
    assert result.returncode != 0
    assert "actor_rollout_ref.actor.megatron.tensor_model_parallel_size=4" in result.stderr


def test_duplicate_prompt_ids_fail_naming_the_file(data_dir, tmp_path):
    spec = columns_spec("math_dapo", "fixture", "train", "problem", "answer")
    records, _ = convert_rows(
        [{"problem": "a", "answer": "1"}, {"problem": "b", "answer": "2"}], spec, "boxed", "train"
    )
    records[1]["extra_info"]["index"] = 0
    write_parquet(records, str(tmp_path / "dup.parquet"))
    result = _dry_run("run_qwen2.5_math_1.5b_grpo.sh", data_dir, TRAIN_FILES=f"['{tmp_path / 'dup.parquet'}']")
    assert result.returncode != 0
    assert "data.train_files" in result.stderr and "dup.parquet" in result.stderr


def _resolved_config(result: subprocess.CompletedProcess) -> dict:
    """The YAML the dry run prints before verl's validation line and the verdict."""
    return yaml.safe_load(result.stdout.split("[validate_config]")[0])


def _flatten(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), node


def test_aero_and_grpo_arms_differ_only_in_the_algorithm(data_dir):
    """The GRPO launcher is a matched baseline: same data, model, optimiser, lengths, evaluation and hardware."""
    aero, grpo = (_dry_run(f"run_qwen2.5_7b_{algo}.sh", data_dir) for algo in ("aero", "grpo"))
    assert aero.returncode == 0 and grpo.returncode == 0, aero.stderr[-2000:] + grpo.stderr[-2000:]
    aero_cfg, grpo_cfg = dict(_flatten(_resolved_config(aero))), dict(_flatten(_resolved_config(grpo)))
    differing = {key for key in aero_cfg.keys() | grpo_cfg.keys() if aero_cfg.get(key) != grpo_cfg.get(key)}
    derived = {  # verl interpolations of rollout.n and trainer.experiment_name
        "actor_rollout_ref.actor.rollout_n",
        "actor_rollout_ref.ref.rollout_n",
        "critic.rollout_n",
        "actor_rollout_ref.rollout.trace.experiment_name",
    }
    assert differing - derived == {
        "algorithm.adv_estimator",
        "actor_rollout_ref.rollout.n",
        "trainer.experiment_name",
        "trainer.default_local_dir",
    }
    assert (aero_cfg["algorithm.aero.n_explore"], aero_cfg["algorithm.aero.budget"]) == (4, 8)
    assert grpo_cfg["actor_rollout_ref.rollout.n"] == 8


def test_megatron_launcher_sets_activation_recompute(data_dir):
    """Megatron ignores model.enable_gradient_checkpointing: the 7B launcher sets Megatron's own recompute keys."""
    result = _dry_run("run_qwen2.5_7b_aero.sh", data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    actor = _resolved_config(result)["actor_rollout_ref"]["actor"]
    recompute = actor["megatron"]["override_transformer_config"]
    assert (recompute["recompute_granularity"], recompute["recompute_method"], recompute["recompute_num_layers"]) == (
        "full",
        "uniform",
        1,
    )


def test_wandb_is_logged_only_with_credentials(data_dir):
    with_key = _dry_run("run_qwen2.5_math_1.5b_grpo.sh", data_dir, WANDB_API_KEY="k" * 40)
    assert with_key.returncode == 0, with_key.stderr[-3000:]
    assert _resolved_config(with_key)["trainer"]["logger"] == ["console", "file", "wandb"]
    forced = _dry_run("run_qwen2.5_math_1.5b_grpo.sh", data_dir, LOGGER='["console","wandb"]')
    assert forced.returncode != 0
    assert "trainer.logger=['console', 'wandb'] includes wandb but no wandb credentials" in forced.stderr


SMOKE = "run_gpu_smoke.sh"


def test_gpu_smoke_dry_run_validates_both_arms(data_dir, tmp_path):
    result = _dry_run(SMOKE, data_dir, OUT_DIR=str(tmp_path / "smoke"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert result.stdout.count("PREFLIGHT OK") == 2
    assert result.stderr.count("python3 -m recipe.aero.preflight") == 2  # set -x: dry runs, no launch
    configs = [yaml.safe_load(part.split("[validate_config]")[0]) for part in result.stdout.split("PREFLIGHT OK")[:2]]
    for config, arm in zip(configs, ("grpo", "aero"), strict=True):
        assert config["algorithm"]["adv_estimator"] == arm
        assert config["trainer"]["experiment_name"] == f"smoke_{arm}"
        assert config["trainer"]["n_gpus_per_node"] == 1 and config["trainer"]["total_training_steps"] == 4
        assert config["trainer"]["logger"] == ["console", "file"]
        assert config["trainer"]["default_local_dir"] == str(tmp_path / "smoke" / arm / "checkpoints")
        assert config["data"]["max_response_length"] == 1024 and config["data"]["val_max_samples"] == 64
        assert config["actor_rollout_ref"]["model"]["path"] == "Qwen/Qwen2.5-Math-1.5B"
        assert config["actor_rollout_ref"]["rollout"]["tensor_model_parallel_size"] == 1
    assert not (tmp_path / "smoke").exists()  # a dry run writes nothing


def test_gpu_smoke_dry_run_checks_the_named_model(data_dir, tmp_path):
    """MODEL_PATH names a local base-like model whose EOS misses the chat template's turn end: refused, file named."""
    from aero_cpu.tiny_assets import build_tokenizer

    model = tmp_path / "base_model"
    tokenizer = build_tokenizer(model)
    tokenizer.eos_token = "<|endoftext|>"
    tokenizer.save_pretrained(model)
    (model / "generation_config.json").write_text('{"eos_token_id": 0}')
    result = _dry_run(SMOKE, data_dir, MODEL_PATH=str(model), ARMS="aero")
    assert result.returncode != 0
    assert f"actor_rollout_ref.model.path={model}: the chat template ends an assistant turn with" in result.stderr
    assert str(model / "generation_config.json") in result.stderr


def test_gpu_smoke_dry_run_with_megatron(data_dir, tmp_path):
    result = _dry_run(SMOKE, data_dir, ENGINE="megatron", ACTOR_OFFLOAD="True", ARMS="aero", OUT_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    actor = _resolved_config(result)["actor_rollout_ref"]["actor"]
    assert actor["strategy"] == "megatron" and actor["megatron"]["tensor_model_parallel_size"] == 1
    assert actor["megatron"]["param_offload"] is True and actor["megatron"]["optimizer_offload"] is True
    assert actor["megatron"]["override_transformer_config"]["recompute_granularity"] == "full"
