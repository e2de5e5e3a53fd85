"""The README's headline CPU-scale table is DESIGN.md §7's comparison rebuilt from its committed logs.

``docs/results/cpu_comparison_2026-12-07/runs`` holds every run's verl file-logger output (``metrics.jsonl.gz``,
unchanged but for gzip), its Hydra overrides and its ``DONE`` marker. These tests rebuild the table and the rules'
decisions with ``recipe.aero.comparison`` and compare them with the README, and check the paired differences against
the raw JSONL, read here without the comparison's code.
"""

import gzip
import json
import math
import statistics
from pathlib import Path

import pytest
from markdown_tables import table_rows

from recipe.aero import comparison as cmp

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results" / "cpu_comparison_2026-12-07"
RUNS = RESULTS / "runs"
AVG = "aero_val/synthetic_arith/avg@64"
HEADER = "| arm | seeds | final Avg@8 | final Pass@8 | last-two Avg@8 |"


def last_two_avg(run: Path) -> float:
    """Mean held-out Avg of the run's last two validations, straight from its gzipped JSONL."""
    avg = {}
    for line in gzip.decompress((run / "metrics.jsonl.gz").read_bytes()).decode().splitlines():
        record = json.loads(line)
        if AVG in record["data"]:
            avg[record["step"]] = record["data"][AVG]
    last = sorted(avg)[-2:]
    return (avg[last[0]] + avg[last[1]]) / 2


@pytest.fixture(scope="module")
def rebuilt() -> str:
    runs = cmp.load_runs(sorted(run for run in RUNS.iterdir() if run.is_dir()))
    return cmp.render(runs, 8, cmp.dataset_of(runs, 8))


def test_readme_table_and_decisions_are_the_comparisons(rebuilt):
    readme = (REPO / "README.md").read_text()
    assert table_rows(readme, HEADER) == table_rows(rebuilt, HEADER)
    for line in rebuilt.splitlines():
        if line.startswith("- `update_sizing` (rule 1)") or line.startswith("- `degenerate_loss_share` (rule 2)"):
            assert line in readme, line
    assert (RESULTS / "comparison.md").read_text() == rebuilt


def test_every_arm_has_the_seeds_design_md_asks_for():
    seeds: dict[str, set[int]] = {}
    for run in RUNS.iterdir():
        arm, _, seed = run.name.rpartition("_s")
        seeds.setdefault(arm, set()).add(int(seed))
        assert (run / "DONE").is_file() and (run / "overrides.yaml").is_file(), run
    six = set(range(6))
    assert seeds["grpo"] == seeds["aero_steps"] == seeds["aero_samples"] == six
    shared = [arm for arm in seeds if arm.endswith("_share")]
    assert len(shared) == 1 and seeds[shared[0]] == six, seeds


def test_paired_differences_to_grpo_match_the_raw_logs(rebuilt):
    for row in cmp.summarize(cmp.load_runs(sorted(RUNS.iterdir())), 8, "synthetic_arith")[1]:
        if row.arm == "grpo":
            continue
        diffs = [last_two_avg(RUNS / f"{row.arm}_s{s}") - last_two_avg(RUNS / f"grpo_s{s}") for s in row.seeds]
        assert row.versus_grpo.diffs == pytest.approx(diffs), row.arm
        se = statistics.stdev(diffs) / math.sqrt(len(diffs))
        assert f"{100 * statistics.fmean(diffs):+.1f} ± {100 * se:.1f}" in rebuilt, row.arm
