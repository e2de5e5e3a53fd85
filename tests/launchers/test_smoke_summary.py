"""recipe.aero.smoke_summary on real CPU runs of both arms, a resume and the rescue race (fixtures/smoke_cpu, README).

Every expected number is read from the fixture files here with ``json``, independently of the module under test. Each
check has a passing case (the real run) and a failing one: a copy of the run, edited in ``tmp_path`` the way the
failure would show in the files (a metric out of range, a console log that stops in a phase, a missing file).
"""

import gzip
import json
import re
import shutil
from pathlib import Path

import pytest

from recipe.aero.smoke_summary import (
    check_eos,
    checks,
    main,
    read_device_memory,
    read_log_phase,
    render,
    summarize_arm,
    summarize_runs,
)

FIXTURE = Path(__file__).parent / "fixtures" / "smoke_cpu"
WRITTEN_AT = "/tmp/smoke_fixture_raw"  # where make_fixture.py wrote the runs; their configs name it
ARMS = ("grpo", "aero")
CLIP_OFF = 1.01  # the tiny model writes to the length cap: the clip-ratio check is tested on its own


def logged(run_dir: Path) -> dict[int, dict]:
    steps: dict[int, dict] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        steps.setdefault(record["step"], {}).update(record["data"])
    return steps


def edit_metrics(run_dir: Path, step: int, **changes) -> None:
    """Sets (value) or removes (None) metrics of one logged step; keys use ``__`` for ``/``."""
    path = run_dir / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        if record["step"] == step:
            for key, value in changes.items():
                key = key.replace("__", "/")
                if value is None:
                    record["data"].pop(key, None)
                else:
                    record["data"][key] = value
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def only(found: list[str], arm: str, *, without: tuple[str, ...] = ("clip_ratio",)) -> list[str]:
    """The findings about ``arm`` (``aero`` excludes ``aero/resumed``), minus the expected clip-ratio ones."""
    return [f for f in found if f.startswith(f"{arm}: ") and not any(w in f for w in without)]


@pytest.fixture
def runs(tmp_path) -> Path:
    """A writable copy of the fixture runs whose configs point at the copy (as if the runs had been written there)."""
    root = Path(shutil.copytree(FIXTURE, tmp_path / "smoke", ignore=shutil.ignore_patterns("*.md", "*.py")))
    for config in root.rglob("config.yaml"):
        config.write_text(config.read_text().replace(WRITTEN_AT, str(root)))
    return root


@pytest.mark.parametrize("name", ARMS)
def test_numbers_are_the_logged_ones(name, runs):
    arm, steps = summarize_arm(runs / name), logged(runs / name)
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
    key = "val-aux/openai/gsm8k/reward_error/mean@4"
    assert arm.reward_error == {"openai/gsm8k": max(steps[0][key], steps[2][key])}
    assert arm.probs_diff_mean == max(steps[s]["training/rollout_probs_diff_mean"] for s in (1, 2))
    assert arm.probs_diff_max == max(steps[s]["training/rollout_probs_diff_max"] for s in (1, 2))
    assert arm.probs_corr == min(steps[s]["training/rollout_actor_probs_pearson_corr"] for s in (1, 2))
    assert arm.device_memory_mib is None
    expected_range = (8, 8) if name == "grpo" else (4, 8)  # GRPO rollout.n 8; AERO n_explore 4, budget 8
    assert arm.config.group_range == expected_range and arm.config.train_batch_size == 6


def test_render_one_screen_with_both_arms(runs):
    arms = [summarize_arm(runs / name) for name in ARMS]
    text = render(arms, clip_warn=0.9)
    lines = text.splitlines()
    table = lines[: lines.index("checks:")]
    paths = ("  grpo:", "  aero:", "samples ")  # the metric logs and sample files, one line each
    assert len(table) <= 45 and max(len(line) for line in table if not line.startswith(paths)) <= 80
    gen = next(line for line in lines if line.startswith("  gen "))
    grpo, aero = logged(runs / "grpo"), logged(runs / "aero")
    expected = [f"{s[1]['timing_s/gen']:.2f} / {s[2]['timing_s/gen']:.2f}" for s in (grpo, aero)]
    assert gen.endswith(f"{expected[0]:>20}{expected[1]:>20}")
    clip = next(line for line in lines if line.startswith("  clip ratio"))
    assert clip.split()[-2:] == [f"{max(s[i]['response_length/clip_ratio'] for i in (1, 2)):.3f}" for s in (grpo, aero)]
    assert not any(line.startswith("  ref log-prob") for line in lines)  # a phase no arm logged is left out
    rescue = next(line for line in lines if line.startswith("  rescue:"))
    attempted = sum(aero[s]["aero/rescue/attempted_prompts"] for s in (1, 2))
    succeeded = sum(aero[s]["aero/rescue/succeeded_prompts"] for s in (1, 2))
    assert attempted > succeeded > 0 and rescue.endswith(f"{'0 / 0':>20}{f'{attempted:.0f} / {succeeded:.0f}':>20}")


def test_runaway_responses_are_flagged_with_the_threshold(runs):
    arms = [summarize_arm(runs / name) for name in ARMS]
    found = checks(arms, clip_warn=0.9)
    assert len(found) == 2 and all("response_length/clip_ratio reached" in line for line in found)
    assert all("python -m recipe.aero.eos_check" in line for line in found)
    assert checks(arms, clip_warn=CLIP_OFF) == []


def test_reward_errors_are_flagged_by_arm_and_data_source(runs):
    edit_metrics(runs / "aero", 2, **{"val-aux/openai/gsm8k/reward_error/mean@4": 0.25})  # 1 in 4 failed
    assert checks([summarize_arm(runs / "aero")], clip_warn=CLIP_OFF) == [
        "aero: reward_error 0.250 on openai/gsm8k (validation): the verifier timed out or failed; grep the log for "
        "'math reward' and check that math_verify imports in the Ray workers"
    ]


def test_missing_validation_and_missing_steps_are_flagged(runs):
    path = runs / "grpo" / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record["data"] = {k: v for k, v in record["data"].items() if "reward_error" not in k}
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert checks([summarize_arm(runs / "grpo")], clip_warn=CLIP_OFF) == [
        "grpo: no reward_error metric logged (no validation pass, or another reward function)"
    ]
    path.write_text(json.dumps(records[0]) + "\n")  # the run died after the validation before training
    assert checks([summarize_arm(runs / "grpo")], clip_warn=CLIP_OFF) == [
        f"grpo: no training step logged in {path} (see the arm's log.txt)"
    ]


def test_arm_that_logged_nothing_is_flagged_and_the_other_still_summarized(runs, tmp_path):
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    arms = [summarize_arm(crashed), summarize_arm(runs / "grpo")]
    assert checks(arms, clip_warn=CLIP_OFF) == [
        f"crashed: no training step logged in {crashed / 'metrics.jsonl'} (see the arm's log.txt)"
    ]
    assert f"{'training steps logged':<38}{'0':>20}{'2':>20}" in render(arms).splitlines()


# ---- time limit: the phase a launch hung in, from its console log ---------------------------------------------------


def cut_log(run_dir: Path, after: str) -> str:
    """Keeps the real console log up to and including the first line containing ``after`` (a launch that stopped
    there); returns that line."""
    lines = gzip.decompress((run_dir / "log.txt.gz").read_bytes()).decode().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if after in line)
    (run_dir / "log.txt.gz").unlink()
    (run_dir / "log.txt").write_text("".join(lines[: cut + 1]))
    return lines[cut]


def set_status(run_dir: Path, exit_code: int, timeout_s: int = 3600) -> None:
    (run_dir / "arm_status.json").write_text(json.dumps({"exit_code": exit_code, "timeout_s": timeout_s, "wall_s": 1}))


@pytest.mark.parametrize(
    ("after", "phase"),
    [
        ("actor and ref model engine initialized", "reward workers and vLLM server start"),
        ("all initialize finished, ready to fit", "first weight sync into vLLM, validation before step 1"),
        ("step:0 - ", "training step 1 (or shutdown after the last step)"),
        ("Saving checkpoint to", "checkpoint save at step 2"),
        ("step:1 - ", "training step 2 (or shutdown after the last step)"),
    ],
)
def test_timed_out_launch_names_the_phase_it_hung_in(runs, after, phase):
    run = runs / "aero"
    set_status(run, 0)
    assert only(checks([summarize_arm(run)], clip_warn=CLIP_OFF), "aero") == []  # the whole run: no finding
    assert read_log_phase(run / "log.txt.gz").phase == "shutdown after the last step"
    line = cut_log(run, after)
    set_status(run, 124)
    found = checks([summarize_arm(run)], clip_warn=CLIP_OFF)
    marker = re.sub(r"^(\([^)]*\)\s*)+", "", re.sub(r"\x1b\[[0-9;]*m", "", line)).strip()  # no colour, no Ray prefix
    assert found[0].startswith(f"aero: TIMED OUT after 3600 s (ARM_TIMEOUT_S); hung in: {phase} (last phase line: ")
    assert repr(marker[:50]).rstrip("'") in found[0]


def test_launch_that_crashed_names_where_it_stopped(runs):
    run = runs / "grpo"
    cut_log(run, "create worker group")
    (run / "metrics.jsonl").unlink()
    set_status(run, 1)
    found = checks([summarize_arm(run)], clip_warn=CLIP_OFF)
    assert found[0].startswith(
        "grpo: exit 1; stopped in: actor / reference model load (FSDP or Megatron initialisation) (last phase line: "
    )
    assert found[1] == f"grpo: no training step logged in {run / 'metrics.jsonl'} (see the arm's log.txt)"


# ---- AERO: rollouts per prompt, rescue, race, failed prompts ---------------------------------------------------------


def test_rollouts_per_prompt_within_the_configured_range(runs):
    for name in ("grpo", "aero", "aero_race"):
        assert not [f for f in checks(summarize_runs([runs / name]), CLIP_OFF) if "rollouts" in f or "prompts" in f]
    edit_metrics(runs / "aero", 1, aero__group_size__generated_max=9.0)  # one prompt got more than budget 8
    found = only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero")
    assert len(found) == 1 and found[0].startswith("aero: step 1: aero/group_size/generated_mean ")
    assert "_max 9: outside rollouts per prompt [4, 8]" in found[0]


def test_grpo_groups_must_be_exactly_rollout_n(runs):
    steps = logged(runs / "grpo")
    edit_metrics(runs / "grpo", 2, aero__gen__rollouts=steps[2]["aero/gen/rollouts"] - 1)  # one rollout missing
    found = only(checks([summarize_arm(runs / "grpo")], CLIP_OFF), "grpo")
    assert len(found) == 1 and found[0].startswith("grpo: step 2: aero/gen/rollouts / prompts = 7.83")
    assert "outside rollouts per prompt [8, 8]" in found[0]


def test_prompts_per_step_must_be_the_train_batch(runs):
    steps = logged(runs / "aero")
    low = steps[1]["aero/strata/prompts_low"]
    edit_metrics(runs / "aero", 1, aero__strata__prompts_low=low + 1)  # a prompt counted that the batch lacks
    found = only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero")
    assert any("7 prompts (+0 failed), not data.train_batch_size" in f and "step 1" in f for f in found), found


def test_every_unsolved_prompt_is_rescued(runs):
    steps = logged(runs / "aero")
    unsolved = round((1 - steps[1]["aero/nonzero_acc_share/before_rescue"]) * 6)
    assert unsolved == steps[1]["aero/rescue/attempted_prompts"] > 0  # the real run: every one was
    edit_metrics(runs / "aero", 1, aero__rescue__attempted_prompts=0.0, aero__rescue__succeeded_prompts=0.0)
    found = only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero")
    assert found == [
        f"aero: step 1: {unsolved} prompts had no success after exploration but rescue was attempted for 0 "
        "(rescue_threshold 0: each of them must be rescued)"
    ]
    edit_metrics(runs / "aero", 1, aero__rescue__attempted_prompts=float(unsolved), aero__rescue__succeeded_prompts=9.0)
    found = only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero")
    assert found == [f"aero: step 1: rescue succeeded 9 > attempted {unsolved}"]


def test_race_aborts_logged_when_on_and_none_failed(runs):
    race = logged(runs / "aero_race")
    assert race[1]["aero/race/aborted_rollouts"] > 0 and race[1]["aero/race/abort_failed"] == 0
    arm = summarize_arm(runs / "aero_race")
    assert only(checks([arm], CLIP_OFF), "aero_race", without=("clip_ratio", "reward_error")) == []
    cell = next(line for line in render([arm]).splitlines() if line.startswith("  race:"))
    assert cell.endswith(f"{race[1]['aero/race/aborted_rollouts']:.0f} / 0")
    edit_metrics(runs / "aero_race", 1, aero__race__abort_failed=2.0)
    assert only(checks([summarize_arm(runs / "aero_race")], CLIP_OFF), "aero_race", without=("clip", "reward")) == [
        "aero_race: aero/race/abort_failed 2: race siblings whose abort never reached vLLM ran to their end (see the "
        "sampler's warning in log.txt)"
    ]
    edit_metrics(runs / "aero_race", 1, aero__race__abort_failed=0.0, aero__race__aborted_rollouts=None)
    assert only(checks([summarize_arm(runs / "aero_race")], CLIP_OFF), "aero_race", without=("clip", "reward")) == [
        "aero_race: rescue_race is on but no aero/race/aborted_rollouts logged"
    ]


def test_aborts_without_the_race_are_flagged(runs):
    assert logged(runs / "aero")[1]["aero/race/aborted_rollouts"] == 0
    edit_metrics(runs / "aero", 1, aero__race__aborted_rollouts=3.0)
    assert only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero") == [
        "aero: 3 rollouts aborted (aero/race/aborted_rollouts) with rescue_race off"
    ]


def test_failed_prompts_are_flagged(runs):
    assert all(m.get("aero/failed/prompts") == 0 for s, m in logged(runs / "aero").items() if s > 0)
    edit_metrics(runs / "aero", 2, aero__failed__prompts=1.0)
    found = only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero")
    assert "aero: aero/failed/prompts 1 over the run: grep log.txt for the failure causes" in found


# ---- rollout vs trainer probabilities --------------------------------------------------------------------------------


def test_probability_gap_threshold_on_the_mean(runs):
    steps = logged(runs / "aero")
    assert max(steps[s]["training/rollout_probs_diff_mean"] for s in (1, 2)) < 1e-6  # fp32 on CPU: synced
    edit_metrics(runs / "aero", 2, training__rollout_probs_diff_mean=0.08)
    found = only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero")
    assert len(found) == 1 and found[0].startswith("aero: training/rollout_probs_diff_mean reached 0.0800 (> 0.05)")
    assert only(checks([summarize_arm(runs / "aero")], CLIP_OFF, probs_diff_warn=0.1), "aero") == []


def test_probability_correlation_floor(runs):
    edit_metrics(runs / "grpo", 1, training__rollout_actor_probs_pearson_corr=0.05)  # vLLM on other weights
    found = only(checks([summarize_arm(runs / "grpo")], CLIP_OFF), "grpo")
    assert len(found) == 1 and found[0].startswith("grpo: training/rollout_actor_probs_pearson_corr fell to 0.050")


def test_missing_rollout_log_probs_leave_the_sync_unchecked(runs):
    for step in (1, 2):
        edit_metrics(runs / "grpo", step, training__rollout_probs_diff_mean=None, training__rollout_probs_diff_valid=0)
    assert only(checks([summarize_arm(runs / "grpo")], CLIP_OFF), "grpo") == [
        "grpo: no valid training/rollout_probs_diff_mean: rollout log-probs missing, so the weight sync into vLLM is "
        "unchecked"
    ]


# ---- sample responses ------------------------------------------------------------------------------------------------


def test_sample_responses_written_from_the_rollout_dump_and_named(runs):
    arm = summarize_arm(runs / "aero", samples=3)
    assert arm.samples_file == runs / "aero" / "samples.txt"
    dumped = [json.loads(line) for line in (runs / "aero" / "rollouts" / "2.jsonl").read_text().splitlines()]
    text = arm.samples_file.read_text()
    assert text.count("\n--- step 2, uid ") == 3
    first = dumped[0]
    assert f"uid {first['uid']}, score {first['score']}, gold {first['gts']!r}" in text and first["output"] in text
    assert f"samples aero: {arm.samples_file}" in render([arm]).splitlines()
    shutil.rmtree(runs / "aero" / "rollouts")  # configured, but verl dumped nothing
    assert only(checks([summarize_arm(runs / "aero")], CLIP_OFF), "aero") == [
        f"aero: no rollout dump in trainer.rollout_data_dir={runs / 'aero' / 'rollouts'}"
    ]


# ---- node mode: checkpoint and resume -------------------------------------------------------------------------------


def test_resumed_launch_continues_from_the_checkpoint(runs):
    arms = summarize_runs([runs / "aero"])
    assert [arm.name for arm in arms] == ["aero", "aero/resumed"] and arms[1].steps == [3]
    assert only(checks(arms, CLIP_OFF), "aero/resumed") == []
    assert f"{'training steps logged':<38}{'2':>20}{'1 (from step 3)':>20}" in render(arms).splitlines()


def test_resumed_launch_that_started_over_is_flagged(runs):
    path = runs / "aero" / "resumed" / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record["step"] = 1 if record["step"] == 3 else record["step"]  # it trained step 1 again: no resume
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    found = only(checks(summarize_runs([runs / "aero"]), CLIP_OFF), "aero/resumed")
    assert found == [
        f"aero/resumed: first training step 1, not 3: the launch did not resume from {runs / 'aero' / 'checkpoints'}"
    ]


def test_resume_without_aero_state_or_counters_is_flagged(runs):
    resumed = logged(runs / "aero" / "resumed")[3]
    edit_metrics(runs / "aero" / "resumed", 3, aero__cumulative__gen_rollouts=resumed["aero/gen/rollouts"])
    (runs / "aero" / "checkpoints" / "global_step_2" / "aero_state.json").unlink()
    found = only(checks(summarize_runs([runs / "aero"]), CLIP_OFF), "aero/resumed")
    state = runs / "aero" / "checkpoints" / "global_step_2" / "aero_state.json"
    assert found[0] == f"aero/resumed: no {state}: the checkpoint lacks AERO's posterior and counters"
    assert found[1].startswith("aero/resumed: aero/cumulative/gen_rollouts ") and "were not restored" in found[1]
    (runs / "aero" / "checkpoints" / "latest_checkpointed_iteration.txt").write_text("1")
    found = only(checks(summarize_runs([runs / "aero"]), CLIP_OFF), "aero/resumed")
    assert found == [
        f"aero/resumed: {runs / 'aero' / 'checkpoints' / 'latest_checkpointed_iteration.txt'} says '1', not the first "
        "launch's last step 2"
    ]


# ---- EOS re-check on the model's files ----------------------------------------------------------------------------


def point_model_at(run_dir: Path, model: Path) -> None:
    """Sets ``actor_rollout_ref.model.path`` (the only ``path:`` at that indent after ``  model:``) to ``model``."""
    config = run_dir / ".hydra" / "config.yaml"
    text, count = re.subn(
        r"(?m)^(  model:\n(?:    .*\n)*?    path: ).*$", rf"\g<1>{model}", config.read_text(), count=1
    )
    assert count == 1
    config.write_text(text)


def test_eos_check_on_the_model_files(runs, tmp_path):
    from aero_cpu.tiny_assets import build_tokenizer

    model = tmp_path / "chat_model"
    build_tokenizer(model)
    point_model_at(runs / "aero", model)
    arm = summarize_arm(runs / "aero")
    assert arm.config.model_path == str(model)
    check_eos([arm])
    assert arm.eos[0] is True and only(checks([arm], CLIP_OFF), "aero") == []
    assert next(line for line in render([arm]).splitlines() if line.startswith("EOS")).endswith("yes")

    base = tmp_path / "base_model"  # a base model whose EOS is not the chat template's turn end
    tokenizer = build_tokenizer(base)
    tokenizer.eos_token = "<|endoftext|>"
    tokenizer.save_pretrained(base)
    (base / "generation_config.json").write_text('{"eos_token_id": 0}')
    point_model_at(runs / "aero", base)
    arm = summarize_arm(runs / "aero")
    check_eos([arm])
    found = only(checks([arm], CLIP_OFF), "aero")
    assert len(found) == 1 and found[0].startswith("aero: WOULD NOT STOP at the end of its turn: the chat template ")

    point_model_at(runs / "aero", tmp_path / "never_downloaded")
    arm = summarize_arm(runs / "aero")
    check_eos([arm])
    assert only(checks([arm], CLIP_OFF), "aero") == [
        f"aero: EOS check undecided: {tmp_path / 'never_downloaded'}: no local files (not a directory, not in the HF "
        "cache) (python -m recipe.aero.eos_check MODEL)"
    ]


def test_eos_only_mode_for_the_script_after_its_first_launch(runs, tmp_path, capsys):
    from aero_cpu.tiny_assets import build_tokenizer

    model = tmp_path / "chat_model"
    build_tokenizer(model)
    for run in (runs / "aero", runs / "aero" / "resumed"):
        point_model_at(run, model)
    assert main(["--eos-only", str(runs / "aero")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["EOS aero", "EOS aero/resumed"]  # each launch's own config
    assert out[0].startswith("EOS aero: yes: the chat template ends an assistant turn with '<|im_end|>'")
    assert not (runs / "aero" / "samples.txt").exists()  # only the EOS check

    base = tmp_path / "base_model"
    tokenizer = build_tokenizer(base)
    tokenizer.eos_token = "<|endoftext|>"
    tokenizer.save_pretrained(base)
    (base / "generation_config.json").write_text('{"eos_token_id": 0}')
    point_model_at(runs / "aero", base)
    assert main(["--eos-only", str(runs / "aero")]) == 1
    assert capsys.readouterr().out.startswith("EOS aero: NO: the chat template ends an assistant turn with")


# ---- memory, CLI ----------------------------------------------------------------------------------------------------


def test_device_memory_from_nvidia_smi_csv(runs):
    (runs / "aero" / "gpu_memory.csv").write_text("1024, 81920\n40960, 81920\n20480, 81920\n")
    arm = summarize_arm(runs / "aero")
    assert arm.device_memory_mib == (40960.0, 81920.0)
    device = next(line for line in render([arm]).splitlines() if line.startswith("  device"))
    assert device.endswith("40.0 of 80.0")


def test_malformed_device_memory_line_names_the_file_and_line(tmp_path):
    csv = tmp_path / "gpu_memory.csv"
    csv.write_text("1024, 81920\n[N/A], 81920\n")
    with pytest.raises(ValueError, match=rf"{csv}:2: expected 'used, total' in MiB"):
        read_device_memory(csv)


def test_cli_exit_status(runs, capsys):
    assert main([str(runs / "grpo"), str(runs / "aero")]) == 1  # the clip-ratio check triggers
    out = capsys.readouterr().out
    assert out.startswith("AERO GPU smoke summary") and "checks:" in out and "aero/resumed" in out
    assert main([str(runs / "grpo"), str(runs / "aero"), "--clip-warn", "1.01"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("checks: none triggered")
