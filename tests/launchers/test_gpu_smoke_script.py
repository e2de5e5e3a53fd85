"""run_scripts/run_gpu_smoke.sh beyond its dry run: the time limit per launch and the EOS check after the first one.

The trainer is replaced by a stand-in ``python3`` on PATH (every other ``python3`` call, the summary's included, goes to
this venv's interpreter): a launch that prints the first lines of a real CPU run's console log and then hangs, or one
that writes a real run's ``.hydra/config.yaml`` naming a model and exits. What is under test is the script's own
wiring: ``timeout``, ``arm_status.json``, the phase named in the summary, stopping before the next launch.
"""

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "launchers" / "fixtures" / "smoke_cpu"

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for `python3 -m recipe.aero.main_aero ...`; anything else runs the real interpreter.
if [ "$1" = -m ] && [ "$2" = recipe.aero.main_aero ]; then
  for arg in "$@"; do
    case "$arg" in hydra.run.dir=*) run_dir=${arg#hydra.run.dir=} ;; esac
  done
  if [ -n "${FAKE_CONSOLE:-}" ]; then cat "$FAKE_CONSOLE"; exec sleep 600; fi
  mkdir -p "$run_dir/.hydra" && cp "$FAKE_CONFIG" "$run_dir/.hydra/config.yaml"
  exit 0
fi
exec "$REAL_PYTHON" "$@"
"""


def _smoke(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(FAKE_PYTHON)
    (bin_dir / "python3").chmod(0o755)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WANDB_")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "REAL_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO),
        "OUT_DIR": str(tmp_path / "out"),
        "DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    return subprocess.run(
        ["bash", str(REPO / "run_scripts" / "run_gpu_smoke.sh")],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_hung_launch_is_stopped_at_its_limit_and_named_by_phase(tmp_path):
    lines = gzip.decompress((FIXTURE / "aero" / "log.txt.gz").read_bytes()).decode().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "actor and ref model engine initialized" in line)
    console = tmp_path / "console.txt"
    console.write_text("".join(lines[: cut + 1]))  # a real start-up that then hangs starting vLLM
    result = _smoke(tmp_path, FAKE_CONSOLE=str(console), ARMS="aero grpo", ARM_TIMEOUT_S="3", KILL_AFTER_S="2")
    assert result.returncode == 1, result.stderr[-3000:]
    run = tmp_path / "out" / "aero"
    assert '{"exit_code": 124, "timeout_s": 3, ' in (run / "arm_status.json").read_text()
    assert not (tmp_path / "out" / "grpo").exists()  # no launch after a time-out (its processes may hold the GPUs)
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "aero: TIMED OUT after 3 s (ARM_TIMEOUT_S); hung in: reward workers and vLLM server start" in summary
    assert summary.rstrip().endswith(f"FAILED arms: aero (exit 124, see {run})")


def test_a_model_that_would_not_stop_ends_the_smoke_run_after_the_first_launch(tmp_path):
    from aero_cpu.tiny_assets import build_tokenizer

    model = tmp_path / "base_model"  # a base model whose EOS is not the chat template's turn end
    tokenizer = build_tokenizer(model)
    tokenizer.eos_token = "<|endoftext|>"
    tokenizer.save_pretrained(model)
    (model / "generation_config.json").write_text('{"eos_token_id": 0}')
    config = tmp_path / "config.yaml"
    text = (FIXTURE / "grpo" / ".hydra" / "config.yaml").read_text()
    text, count = re.subn(r"(?m)^(  model:\n(?:    .*\n)*?    path: ).*$", rf"\g<1>{model}", text, count=1)
    assert count == 1
    config.write_text(text)
    result = _smoke(tmp_path, FAKE_CONFIG=str(config), ARMS="grpo aero")
    assert result.returncode == 1, result.stderr[-3000:]
    eos = (tmp_path / "out" / "eos_check.txt").read_text()
    assert eos.startswith("EOS grpo: NO: the chat template ends an assistant turn with '<|im_end|>'")
    assert not (tmp_path / "out" / "aero").exists()  # the second arm never started
    assert "FAILED arms: grpo (EOS check, see " in (tmp_path / "out" / "summary.txt").read_text()

    build_tokenizer(model)  # the chat tokenizer: its EOS is the turn end, so both arms launch
    (model / "generation_config.json").unlink()
    (tmp_path / "again").mkdir()
    _smoke(tmp_path / "again", FAKE_CONFIG=str(config), ARMS="grpo aero")
    assert (tmp_path / "again" / "out" / "eos_check.txt").read_text().startswith("EOS grpo: yes: ")
    assert (tmp_path / "again" / "out" / "aero" / ".hydra" / "config.yaml").is_file()
    assert "EOS check" not in (tmp_path / "again" / "out" / "summary.txt").read_text()


# ---- the dry run of the two modes' launch configs -------------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).parent))
from test_launchers_dry_run import _dry_run, data_dir  # noqa: E402, F401 (data_dir: a fixture)


def _resolved_configs(result: subprocess.CompletedProcess) -> list[dict]:
    """The YAML each launch's preflight prints before verl's validation line, in launch order."""
    return [yaml.safe_load(part.split("[validate_config]")[0]) for part in result.stdout.split("PREFLIGHT OK")[:-1]]


def test_node_mode_runs_the_paper_launcher_saves_at_step_2_and_resumes_for_step_3(data_dir, tmp_path):  # noqa: F811
    result = _dry_run("run_gpu_smoke.sh", data_dir, MODE="node", OUT_DIR=str(tmp_path / "smoke"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    first, resumed = _resolved_configs(result)
    run = tmp_path / "smoke" / "aero"
    for config in (first, resumed):  # run_qwen2.5_7b.sh's node shape, unchanged
        assert config["algorithm"]["adv_estimator"] == "aero" and config["trainer"]["n_gpus_per_node"] == 8
        actor, rollout = config["actor_rollout_ref"]["actor"], config["actor_rollout_ref"]["rollout"]
        assert actor["strategy"] == "megatron" and actor["megatron"]["tensor_model_parallel_size"] == 4
        assert rollout["tensor_model_parallel_size"] == 2 and config["data"]["max_response_length"] == 4096
        assert config["trainer"]["default_local_dir"] == str(run / "checkpoints")
        assert config["trainer"]["logger"] == ["console", "file"]
    schedule = ("total_training_steps", "save_freq", "resume_mode", "val_before_train", "test_freq", "rollout_data_dir")
    assert [first["trainer"][key] for key in schedule] == [2, 2, "disable", True, -1, str(run / "rollouts")]
    assert [resumed["trainer"][key] for key in schedule] == [3, -1, "auto", False, 3, str(run / "resumed" / "rollouts")]


def test_one_gpu_actor_offload_is_fsdp2_cpu_offload(data_dir, tmp_path):  # noqa: F811
    """The 7B one-GPU advice: FSDP2's CPUOffloadPolicy (parameters, gradients, Adam step on the CPU)."""
    result = _dry_run("run_gpu_smoke.sh", data_dir, ACTOR_OFFLOAD="True", ARMS="aero", OUT_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    (config,) = _resolved_configs(result)
    actor = config["actor_rollout_ref"]["actor"]
    assert actor["strategy"] == "fsdp2" and actor["fsdp_config"]["offload_policy"] is True
