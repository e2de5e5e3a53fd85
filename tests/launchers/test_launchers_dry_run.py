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
        **os.environ,
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
