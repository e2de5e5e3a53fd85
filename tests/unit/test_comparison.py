"""DESIGN.md §7's comparison on hand-written logs: the decision measure, the pairing by seed, the two rules, the GRPO
check, the table's ratios and the CLI the seeds script calls."""

import json
import math
import statistics
from pathlib import Path

import pytest

from recipe.aero import comparison as cmp

AVG, PASS = "aero_val/task/avg@64", "aero_val/task/pass@8"


def write_run(root: Path, name: str, avg: dict[int, float], *, flops_per_step=1.0, seconds_per_step=1.0, done=True):
    """A run directory with verl file-logger lines: validations at the steps of ``avg``, 40 training steps."""
    run = root / name
    run.mkdir(parents=True)
    lines = []
    for step in range(0, 41):
        data = {}
        if step:
            data = {"timing_s/step": seconds_per_step, "aero/cumulative/total_flops": flops_per_step * step}
        if step in avg:
            data.update({AVG: avg[step], PASS: min(1.0, avg[step] + 0.1)})
        lines.append(json.dumps({"step": step, "data": data}))
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if done:
        (run / "DONE").write_text("x")
    return run


def curve(start: float, end30: float, end40: float) -> dict[int, float]:
    return {0: start, 10: (start + end30) / 2, 20: end30, 30: end30, 40: end40}


def test_decision_measure_is_the_mean_of_the_last_two_validations(tmp_path):
    run = write_run(tmp_path, "grpo_s0", curve(0.3, 0.50, 0.56))
    history = cmp.load_runs([run])["grpo"][0]
    assert cmp.decision_measure(history, 8, "task") == pytest.approx(0.53)


def test_a_run_without_a_seed_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no _s<seed> suffix"):
        cmp.load_runs([write_run(tmp_path, "grpo", curve(0.3, 0.5, 0.5))])


def sizing_runs(tmp_path: Path, steps_minus_samples: list[float]) -> Path:
    for seed, diff in enumerate(steps_minus_samples):
        base = 0.50 + 0.01 * seed
        write_run(tmp_path, f"grpo_s{seed}", curve(0.3, base, base))
        write_run(tmp_path, f"aero_samples_s{seed}", curve(0.3, base, base))
        write_run(tmp_path, f"aero_steps_s{seed}", curve(0.3, base + diff, base + diff))
    return tmp_path


@pytest.mark.parametrize(
    ("diffs", "sizing"),
    [
        ([0.02, 0.021, 0.019, 0.02, 0.022, 0.018], "steps"),  # steps leads by far more than 2 s.e.
        ([0.02, -0.01, 0.03, 0.0, 0.01, -0.02], "samples"),  # steps ahead on the mean, within 2 s.e.
        ([-0.01, -0.012, -0.011, -0.009, -0.01, -0.013], "samples"),  # samples ahead
    ],
)
def test_rule_1_keeps_steps_only_when_it_leads_by_more_than_two_standard_errors(tmp_path, diffs, sizing):
    runs = cmp.runs_in(sizing_runs(tmp_path, diffs))
    chosen, difference = cmp.pick_sizing(runs, 8, "task")
    assert chosen == sizing
    assert difference.mean == pytest.approx(statistics.fmean(diffs))
    assert difference.se == pytest.approx(statistics.stdev(diffs) / math.sqrt(len(diffs)))


def test_rule_1_needs_two_paired_seeds(tmp_path):
    runs = cmp.runs_in(sizing_runs(tmp_path, [0.05]))
    with pytest.raises(ValueError, match="need >= 2"):
        cmp.pick_sizing(runs, 8, "task")


def test_unfinished_runs_are_not_read_by_the_scripts_rules(tmp_path):
    sizing_runs(tmp_path, [0.02, 0.021, 0.019])
    write_run(tmp_path, "aero_steps_s3", curve(0.3, 0.9, 0.9), done=False)  # still running: no DONE marker
    runs = cmp.runs_in(tmp_path)
    assert sorted(runs["aero_steps"]) == [0, 1, 2]


def test_check_grpo_fails_when_one_seed_gains_under_the_bar(tmp_path, capsys):
    write_run(tmp_path, "grpo_s0", curve(0.30, 0.50, 0.56))
    write_run(tmp_path, "grpo_s1", curve(0.30, 0.35, 0.38))  # +8 points
    assert cmp.main(["check-grpo", str(tmp_path), "--min-gain", "0.10"]) == 1
    assert "s1 +0.080" in capsys.readouterr().out
    assert cmp.main(["check-grpo", str(tmp_path), "--min-gain", "0.05"]) == 0


def test_table_ratios_and_paired_difference_to_grpo(tmp_path):
    """AERO at half GRPO's compute and 0.6x its time per step; it reaches GRPO's mean final (0.55) at step 30 where
    GRPO's seeds reach it at step 40."""
    for seed in (0, 1):
        write_run(tmp_path, f"grpo_s{seed}", {0: 0.3, 10: 0.4, 20: 0.45, 30: 0.5, 40: 0.55})
        write_run(
            tmp_path,
            f"aero_samples_s{seed}",
            {0: 0.3, 10: 0.4, 20: 0.5, 30: 0.55 + 0.01 * seed, 40: 0.56},
            flops_per_step=0.5,
            seconds_per_step=0.6,
        )
    runs = cmp.runs_in(tmp_path)
    target, rows = cmp.summarize(runs, 8, "task")
    assert target == pytest.approx(0.55)
    grpo, aero = rows
    assert (grpo.arm, aero.arm) == ("grpo", "aero_samples")
    assert aero.flops_ratio == pytest.approx(0.5) and aero.step_time_ratio == pytest.approx(0.6)
    assert (aero.reached, grpo.reached) == (2, 2)
    assert aero.flops_to_target_ratio == pytest.approx(0.5 * 30 / 40)
    assert aero.time_to_target_ratio == pytest.approx(0.6 * 30 / 40)
    # last two validations: grpo (0.5 + 0.55) / 2 = 0.525, aero 0.555 and 0.56 -> +3.0 and +3.5 points
    assert aero.versus_grpo.diffs == pytest.approx([0.03, 0.035])
    text = cmp.render(runs, 8, "task")
    assert "| aero_samples | 0,1 |" in text and "± 0.3 (t = 13.0)" in text


def test_table_cli_writes_the_markdown_and_the_plot(tmp_path):
    runs = sizing_runs(tmp_path / "runs", [0.0, 0.01])
    out = tmp_path / "out"
    assert cmp.main(["table", *map(str, sorted(runs.iterdir())), "--out", str(out)]) == 0
    text = (out / "comparison.md").read_text()
    assert "`update_sizing` (rule 1)" in text and "**`samples`**" in text
    assert (out / "comparison.png").stat().st_size > 10_000
