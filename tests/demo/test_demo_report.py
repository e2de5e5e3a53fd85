"""recipe.aero.report on JSONL written here in verl's file-logger format ({"step": N, "data": {...}} per line).

Most fixtures are built here the way verl.utils.tracking.FileLogger writes them; the tests at the end read real
trainer logs (fixtures/main_aero_quick and fixtures/cpu_seeds_quick, see their READMEs).
"""

import json
from pathlib import Path

import pytest

from recipe.aero import report as rp


def write_log(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"step": step, "data": data}) + "\n" for step, data in records))
    return path


def arm_records(step_times, flops_per_step, gen_per_step, val, zero_adv=None, val_core_only=False):
    """Validation at step 0 and at the last step; cumulative counters grow every step."""
    records = []
    val_keys = {}
    for ds, (avg, pas) in val.items():
        if val_core_only:
            val_keys[f"val-core/{ds}/acc/mean@8"] = avg
        else:
            val_keys[f"aero_val/{ds}/avg@8"] = avg
            val_keys[f"aero_val/{ds}/pass@8"] = pas
            val_keys[f"aero_val/{ds}/pass@4"] = 0.01  # other k must not be picked up
    records.append((0, {key: value / 2 for key, value in val_keys.items()}))
    for i, seconds in enumerate(step_times, start=1):
        data = {
            "timing_s/step": seconds,
            "timing_s/gen": 0.6 * seconds,
            "aero/timing/rescue_tail_s": 0.1 * seconds,
            "training/global_step": i,
            "aero/cumulative/total_flops": flops_per_step * i,
            "aero/cumulative/gen_rollouts": gen_per_step * i,
            "aero/cumulative/train_rollouts": gen_per_step * i // 2,
            "aero/cumulative/gen_response_tokens": 10 * gen_per_step * i,
            "aero/cumulative/train_response_tokens": 5 * gen_per_step * i,
        }
        if zero_adv is not None:
            data["aero/zero_adv_share/before"], data["aero/zero_adv_share/after"] = zero_adv
        if i == len(step_times):
            data.update(val_keys)
        records.append((i, data))
    return records


@pytest.fixture
def two_arms(tmp_path):
    grpo = write_log(
        tmp_path / "runs" / "grpo" / "metrics.jsonl",
        arm_records([30.0, 10.0, 10.0], 2e12, 128, {"openai/gsm8k": (0.5, 0.8), "math500": (0.2, 0.4)}, (0.4, 0.4)),
    )
    aero = write_log(
        tmp_path / "runs" / "aero" / "metrics.jsonl",
        arm_records([20.0, 6.0, 4.0], 1e12, 100, {"openai/gsm8k": (0.55, 0.85), "math500": (0.25, 0.5)}, (0.4, 0.1)),
    )
    return grpo.parent, aero.parent


def test_load_history_merges_repeated_steps_and_skips_a_truncated_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "data": {"a": 1, "b": 2}}\n{"step": 1, "data": {"b": 3}}\n{"step": 2, "da')
    assert rp.load_history(path) == {1: {"a": 1, "b": 3}}


def test_malformed_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "data": {}}\nnot json\n{"step": 2, "data": {}}\n')
    with pytest.raises(ValueError, match=r"m\.jsonl:2"):
        rp.load_history(path)


def test_find_log_file_prefers_metrics_jsonl_and_explains_absence(tmp_path):
    (tmp_path / "x.jsonl").write_text("")
    (tmp_path / "metrics.jsonl").write_text("")
    assert rp.find_log_file(tmp_path).name == "metrics.jsonl"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="trainer.logger"):
        rp.find_log_file(empty)


def test_a_gzipped_log_reads_like_the_plain_one(two_arms, tmp_path):
    import gzip

    grpo_dir, _ = two_arms
    packed = tmp_path / "packed" / "grpo"
    packed.mkdir(parents=True)
    (packed / "metrics.jsonl.gz").write_bytes(gzip.compress((grpo_dir / "metrics.jsonl").read_bytes()))
    assert rp.find_log_file(packed) == packed / "metrics.jsonl.gz"
    assert rp.load_history(packed / "metrics.jsonl.gz") == rp.load_history(grpo_dir / "metrics.jsonl")
    single = tmp_path / "single"
    single.mkdir()
    (single / "grpo.v2.jsonl.gz").write_bytes((packed / "metrics.jsonl.gz").read_bytes())
    rp.build_report([single / "grpo.v2.jsonl.gz"], tmp_path / "out")  # a log file given directly: named by its stem
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["arms"][0]["name"] == "grpo.v2"


def test_summary_numbers(two_arms):
    grpo_dir, _ = two_arms
    history = rp.load_history(grpo_dir / "metrics.jsonl")
    arm = rp.summarize_arm("grpo", history, k=8)
    assert arm.num_train_steps == 3 and arm.final_val_step == 3
    assert arm.final_val["openai/gsm8k"] == {"avg": 0.5, "pass": 0.8, "avg_source": "aero_val"}
    assert arm.cumulative["total_flops"] == 6e12 and arm.cumulative["gen_rollouts"] == 384
    assert arm.step_time_mean_s == 10.0 and arm.step_time_num_steps == 2  # step 1 (30 s) excluded


def test_reduction_pct():
    assert rp.reduction_pct(52.0, 100.0) == pytest.approx(48.0)
    assert rp.reduction_pct(None, 1.0) is None and rp.reduction_pct(1.0, 0.0) is None


def test_report_table_reductions_and_plots(two_arms, tmp_path):
    out = tmp_path / "out"
    report = rp.build_report([two_arms[1], two_arms[0]], out)  # AERO first: the baseline is still GRPO by name
    text = report.read_text()
    assert "baseline `grpo`" in text
    # 3e12 vs 6e12 FLOPs, 5 s vs 10 s per step, 3 s vs 6 s generation per step, 300 vs 384 rollouts
    assert "| aero | 50.0 % | 50.0 % | 50.0 % | 21.9 % |" in text
    assert "## Generation per step" in text and "| aero | 3.00 |" in text and "| grpo | 6.00 |" in text
    assert "0.550 | 0.850" in text and "0.500 | 0.800" in text
    assert "openai/gsm8k Avg@8" in text and "math500 Pass@8" in text
    assert "0.010" not in text
    assert "| grpo | openai/gsm8k | 0.250 | 0.500 |" in text  # curve: step 0 (fixture: half) and step 3
    for name in ("accuracy_vs_compute.png", "step_time.png", "zero_adv_share.png"):
        assert (out / name).stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["baseline"] == "grpo" and len(summary["arms"]) == 2


def test_missing_metrics_are_na_and_val_core_is_the_avg_fallback(tmp_path):
    bare = write_log(tmp_path / "grpo_bare" / "metrics.jsonl", [(1, {"timing_s/step": 3.0})])
    verl_only = tmp_path / "stock" / "metrics.jsonl"
    records = arm_records([5.0, 5.0], 1.0, 1, {"ds": (0.3, 0.0)}, val_core_only=True)
    write_log(verl_only, [(s, {k: v for k, v in d.items() if not k.startswith("aero/")}) for s, d in records])
    text = rp.build_report([bare.parent, verl_only.parent], tmp_path / "out").read_text()
    assert "0.300*" in text  # Avg from val-core, marked
    assert text.count("n/a") >= 10
    # the bare baseline has one step only (excluded as warm-up) and no cumulative counters: nothing to compare
    assert "| stock | n/a | n/a | n/a |" in text
    assert (tmp_path / "out" / "zero_adv_share.png").exists()


def test_unknown_baseline_is_refused(two_arms, tmp_path):
    with pytest.raises(ValueError, match="--baseline 'nope'"):
        rp.build_report(list(two_arms), tmp_path / "out", baseline="nope")


def test_cli_prints_the_report(two_arms, tmp_path, capsys):
    rp.main([str(p) for p in two_arms] + ["--out", str(tmp_path / "o"), "--baseline", "grpo"])
    assert "# AERO vs GRPO" in capsys.readouterr().out


REAL_RUNS = Path(__file__).parent / "fixtures" / "main_aero_quick"


def test_report_on_real_main_aero_logs_has_every_number(tmp_path):
    """The fixture is the JSONL of a real CPU run of recipe.aero.main_aero (see fixtures/main_aero_quick/README.md)."""
    text = rp.build_report([REAL_RUNS / "grpo", REAL_RUNS / "aero"], tmp_path).read_text()
    summary = json.loads((tmp_path / "summary.json").read_text())
    arms = {arm["name"]: arm for arm in summary["arms"]}
    assert summary["baseline"] == "grpo"
    for name, arm in arms.items():
        assert arm["config"]["adv_estimator"] == name
        assert arm["config"]["val_n"] == 8 and arm["config"]["val_temperature"] == 1.0
        assert arm["num_train_steps"] == 4 and arm["final_val_step"] == 4
        assert arm["final_val"]["synthetic_arith"]["avg_source"] == "aero_val"
        assert all(value is not None for value in arm["cumulative"].values()), arm["cumulative"]
        assert arm["step_time_mean_s"] > 0 and arm["step_time_num_steps"] == 3
    assert arms["grpo"]["cumulative"]["gen_rollouts"] == 4 * 8 * 8  # 4 steps x 8 prompts x N=8
    assert arms["aero"]["cumulative"]["gen_rollouts"] < arms["grpo"]["cumulative"]["gen_rollouts"]
    reduction = rp.reduction_pct(arms["aero"]["cumulative"]["total_flops"], arms["grpo"]["cumulative"]["total_flops"])
    assert f"| aero | {reduction:.1f} %" in text
    assert "| grpo | synthetic_arith |" in text and "| aero | synthetic_arith |" in text


SEED_RUNS = Path(__file__).parent / "fixtures" / "cpu_seeds_quick"
AVG = "aero_val/synthetic_arith/avg@8"


def read_jsonl(path: Path) -> dict[int, dict]:
    """verl's file-logger lines merged per step, read here without the report's helpers."""
    by_step: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        by_step.setdefault(record["step"], {}).update(record["data"])
    return by_step


def test_report_aggregates_seeds_of_real_runs(tmp_path):
    """Real logs of ``run_scripts/run_cpu_seeds.sh`` (2 seeds x 2 arms, see fixtures/cpu_seeds_quick/README.md)."""
    import statistics

    runs = sorted(path for path in SEED_RUNS.iterdir() if path.is_dir())
    text = rp.build_report(runs, tmp_path).read_text()
    across = json.loads((tmp_path / "summary.json").read_text())["across_seeds"]["synthetic_arith"]
    logs = {path.name: read_jsonl(path / "metrics.jsonl") for path in runs}
    rows = {row["arm"]: row for row in across["arms"]}
    assert set(rows) == {"grpo", "aero"} and "## Across seeds" in text and "## To target" in text

    def final(log: dict[int, dict], key: str) -> float:
        return log[max(step for step in log if key in log[step])][key]

    grpo_finals = [final(logs[name], AVG) for name in sorted(logs) if name.startswith("grpo_s")]
    assert across["target"] == pytest.approx(statistics.fmean(grpo_finals))
    for arm, row in rows.items():
        names = sorted(name for name in logs if name.startswith(f"{arm}_s"))
        assert len(names) == 2 and row["runs"] == names
        for stat, key in (("final_avg", AVG), ("total_flops", "aero/cumulative/total_flops")):
            values = [final(logs[name], key) for name in names]
            assert row[stat]["mean"] == pytest.approx(statistics.fmean(values)), stat
            assert row[stat]["std"] == pytest.approx(statistics.stdev(values)), stat
        for name, reached in zip(names, row["to_target"], strict=True):
            log = logs[name]
            hits = [step for step in sorted(log) if AVG in log[step] and log[step][AVG] >= across["target"]]
            assert reached["step"] == (hits[0] if hits else None), name
            if hits and hits[0] > 0:
                assert reached["flops"] == log[hits[0]]["aero/cumulative/total_flops"]
                seconds = sum(log[s]["timing_s/step"] for s in log if 0 < s <= hits[0] and "timing_s/step" in log[s])
                assert reached["train_s"] == pytest.approx(seconds)


def test_spent_to_a_target_reached_after_step_0_is_read_from_the_real_logs():
    """Each seed run's own best validation as the target: reached after step 0 in some run, so the FLOPs and
    training seconds spent until then are the logged cumulative FLOPs and the sum of ``timing_s/step``."""
    from recipe.aero.seeds import first_at_or_above, spent_until

    checked = 0
    for path in sorted(p for p in SEED_RUNS.iterdir() if p.is_dir()):
        log = read_jsonl(path / "metrics.jsonl")
        best_step = max((step for step in log if AVG in log[step]), key=lambda step: (log[step][AVG], -step))
        history = rp.load_history(path / "metrics.jsonl")
        assert first_at_or_above(history, 8, "synthetic_arith", log[best_step][AVG]) == best_step
        if best_step > 0:
            seconds = sum(log[s]["timing_s/step"] for s in log if 0 < s <= best_step and "timing_s/step" in log[s])
            spent = spent_until(history, best_step)
            assert spent["flops"] == log[best_step]["aero/cumulative/total_flops"]
            assert spent["train_s"] == pytest.approx(seconds)
            checked += 1
    assert checked, "no run's best validation came after step 0: the fixture cannot check what is spent"
