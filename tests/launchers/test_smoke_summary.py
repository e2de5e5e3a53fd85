"""recipe.aero.smoke_summary on real JSONL logs of a CPU run of both arms (fixtures/smoke_cpu, see its README).

Every expected number is read from the fixture files here with ``json``, independently of the module under test.
"""

import json
import shutil
from pathlib import Path

import pytest

from recipe.aero.smoke_summary import checks, main, read_device_memory, render, summarize_arm

FIXTURE = Path(__file__).parent / "fixtures" / "smoke_cpu"
ARMS = ("grpo", "aero")


def logged(arm: str) -> dict[int, dict]:
    steps: dict[int, dict] = {}
    for line in (FIXTURE / arm / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        steps.setdefault(record["step"], {}).update(record["data"])
    return steps


@pytest.fixture
def runs(tmp_path) -> dict[str, Path]:
    """A writable copy of the fixture runs (tests add files or edit metrics)."""
    return {arm: Path(shutil.copytree(FIXTURE / arm, tmp_path / arm)) for arm in ARMS}


@pytest.mark.parametrize("name", ARMS)
def test_numbers_are_the_logged_ones(name):
    arm, steps = summarize_arm(FIXTURE / name), logged(name)
    assert arm.name == name and arm.steps == [1, 2]
    for phase in ("gen", "old_log_prob", "adv", "update_actor", "update_weights", "step"):
        assert arm.phase_first[phase] == steps[1][f"timing_s/{phase}"]
        assert arm.phase_rest[phase] == steps[2][f"timing_s/{phase}"]
    assert arm.phase_first["ref"] is None and arm.phase_rest["ref"] is None  # the CPU run had no KL loss
    assert arm.validation_s == steps[2]["timing_s/testing"]
    assert arm.memory_gb == {
        "gpu_allocated": max(steps[s]["actor/perf/max_memory_allocated_gb"] for s in (1, 2)),
        "gpu_reserved": max(steps[s]["actor/perf/max_memory_reserved_gb"] for s in (1, 2)),
        "host": max(steps[s]["actor/perf/cpu_memory_used_gb"] for s in (1, 2)),
    }
    assert arm.response_mean == steps[2]["response_length/mean"]
    assert arm.clip_ratio == max(steps[s]["response_length/clip_ratio"] for s in (1, 2))
    assert arm.aborted_ratio == max(steps[s]["response/aborted_ratio"] for s in (1, 2))
    key = "val-aux/openai/gsm8k/reward_error/mean@2"
    assert arm.reward_error == {"openai/gsm8k": max(steps[0][key], steps[2][key])}
    assert arm.probs_diff_mean == max(steps[s]["training/rollout_probs_diff_mean"] for s in (1, 2))
    assert arm.probs_diff_max == max(steps[s]["training/rollout_probs_diff_max"] for s in (1, 2))
    assert arm.probs_corr == min(steps[s]["training/rollout_actor_probs_pearson_corr"] for s in (1, 2))
    assert arm.device_memory_mib is None


def test_render_one_screen_with_both_arms():
    arms = [summarize_arm(FIXTURE / name) for name in ARMS]
    text = render(arms, clip_warn=0.9)
    lines = text.splitlines()
    table = [line for line in lines[: lines.index("checks:")] if not line.endswith("/metrics.jsonl")]  # not paths
    assert len(lines) <= 40 and max(len(line) for line in table) <= 80
    gen = next(line for line in lines if line.startswith("  gen "))
    grpo, aero = logged("grpo"), logged("aero")
    expected = [f"{s[1]['timing_s/gen']:.2f} / {s[2]['timing_s/gen']:.2f}" for s in (grpo, aero)]
    assert gen.endswith(f"{expected[0]:>20}{expected[1]:>20}")
    clip = next(line for line in lines if line.startswith("  clip ratio"))
    assert clip.split()[-2:] == [f"{max(s[i]['response_length/clip_ratio'] for i in (1, 2)):.3f}" for s in (grpo, aero)]
    assert not any(line.startswith("  ref log-prob") for line in lines)  # a phase no arm logged is left out


def test_runaway_responses_are_flagged_with_the_threshold():
    arms = [summarize_arm(FIXTURE / name) for name in ARMS]
    found = checks(arms, clip_warn=0.9)
    assert len(found) == 2 and all("response_length/clip_ratio reached" in line for line in found)
    assert all("python -m recipe.aero.eos_check" in line for line in found)
    assert checks(arms, clip_warn=1.01) == []


def test_reward_errors_are_flagged_by_arm_and_data_source(runs):
    path = runs["aero"] / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[-1]["data"]["val-aux/openai/gsm8k/reward_error/mean@2"] = 0.25  # the last validation: 1 in 4 failed
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    found = checks([summarize_arm(runs["aero"])], clip_warn=1.01)
    assert found == [
        "aero: reward_error 0.250 on openai/gsm8k (validation): the verifier timed out or failed; grep the log for "
        "'math reward' and check that math_verify imports in the Ray workers"
    ]


def test_missing_validation_and_missing_steps_are_flagged(runs):
    path = runs["grpo"] / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record["data"] = {k: v for k, v in record["data"].items() if "reward_error" not in k}
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert checks([summarize_arm(runs["grpo"])], clip_warn=1.01) == [
        "grpo: no reward_error metric logged (no validation pass, or another reward function)"
    ]
    path.write_text(json.dumps(records[0]) + "\n")  # the run died after the validation before training
    assert checks([summarize_arm(runs["grpo"])], clip_warn=1.01) == [
        f"grpo: no training step logged in {path} (see the arm's log.txt)"
    ]


def test_arm_that_logged_nothing_is_flagged_and_the_other_still_summarized(runs, tmp_path):
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    arms = [summarize_arm(crashed), summarize_arm(runs["grpo"])]
    assert checks(arms, clip_warn=1.01) == [
        f"crashed: no training step logged in {crashed / 'metrics.jsonl'} (see the arm's log.txt)"
    ]
    assert f"{'training steps logged':<38}{'0':>20}{'2':>20}" in render(arms).splitlines()


def test_device_memory_from_nvidia_smi_csv(runs):
    (runs["aero"] / "gpu_memory.csv").write_text("1024, 81920\n40960, 81920\n20480, 81920\n")
    arm = summarize_arm(runs["aero"])
    assert arm.device_memory_mib == (40960.0, 81920.0)
    device = next(line for line in render([arm]).splitlines() if line.startswith("  device"))
    assert device.endswith("40.0 of 80.0")


def test_malformed_device_memory_line_names_the_file_and_line(tmp_path):
    csv = tmp_path / "gpu_memory.csv"
    csv.write_text("1024, 81920\n[N/A], 81920\n")
    with pytest.raises(ValueError, match=rf"{csv}:2: expected 'used, total' in MiB"):
        read_device_memory(csv)


def test_cli_exit_status(capsys):
    assert main([str(FIXTURE / "grpo"), str(FIXTURE / "aero")]) == 1  # the clip-ratio check triggers
    out = capsys.readouterr().out
    assert out.startswith("AERO GPU smoke summary") and "checks:" in out
    assert main([str(FIXTURE / "grpo"), str(FIXTURE / "aero"), "--clip-warn", "1.01"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("checks: none triggered")
