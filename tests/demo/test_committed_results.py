"""The tables of the benchmark of 2026-12-03 (its results page) come from its committed logs, through the report.

``docs/results/cpu_benchmark_2026-12-03/runs`` holds every run's verl file-logger output (``metrics.jsonl.gz``,
unchanged but for gzip) and Hydra overrides. The ablation table and the ``advantage_stats`` decision table on its
results page (``README.md`` next to ``runs``) are pasted from ``recipe.aero.report`` over those logs; these tests
rebuild them and check the paired differences against the raw JSONL, read here without the report's code.
"""

import gzip
import json
import math
import statistics
from pathlib import Path

import pytest
from markdown_tables import table_rows

from recipe.aero import report as rp

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "docs" / "results" / "cpu_benchmark_2026-12-03" / "runs"
PAGE = RUNS.parent / "README.md"
AVG = "aero_val/synthetic_arith/avg@64"


def final_avg(run: Path) -> float:
    """The held-out Avg at the run's last validation, straight from its gzipped JSONL."""
    finals = {}
    for line in gzip.decompress((run / "metrics.jsonl.gz").read_bytes()).decode().splitlines():
        record = json.loads(line)
        if AVG in record["data"]:
            finals[record["step"]] = record["data"][AVG]
    return finals[max(finals)]


@pytest.fixture(scope="module")
def ablation_report(tmp_path_factory):
    runs = sorted(run for run in RUNS.iterdir() if run.name[-1] in "012")
    out = tmp_path_factory.mktemp("ablations")
    text = rp.build_report(runs, out).read_text()
    return text, json.loads((out / "summary.json").read_text())["across_seeds"]["synthetic_arith"]


def test_readme_ablation_table_is_the_reports(ablation_report):
    text, _ = ablation_report
    header = "| arm | seeds | step-0 Avg@8 | step-20 Avg@8 | step-40 Avg@8 | final Avg@8 |"
    rows = table_rows(text, header)
    assert [row.split(" | ")[0] for row in rows] == [
        "| aero",
        "| aero_decay0",
        "| aero_decay1",
        "| aero_keep0",
        "| aero_mirror",
        "| aero_reject2",
        "| aero_stats_generated",
        "| grpo",
    ]
    assert table_rows(PAGE.read_text(), header) == rows


def test_paired_differences_match_the_raw_logs(ablation_report):
    _, across = ablation_report
    for row in across["ablations"]:
        if row["arm"] == "aero":
            continue
        diffs = [final_avg(RUNS / f"{row['arm']}_s{seed}") - final_avg(RUNS / f"aero_s{seed}") for seed in (0, 1, 2)]
        assert row["paired"]["seeds"] == [0, 1, 2]
        assert row["paired"]["mean"] == pytest.approx(statistics.fmean(diffs)), row["arm"]
        assert row["paired"]["se"] == pytest.approx(statistics.stdev(diffs) / math.sqrt(3)), row["arm"]


def test_readme_advantage_stats_table_is_the_reports(tmp_path):
    runs = sorted(run for run in RUNS.iterdir() if run.name.startswith(("aero_s", "aero_stats_generated_s", "grpo_s")))
    text = rp.build_report(runs, tmp_path).read_text()
    header = "| arm | seeds | step-0 Avg@8 | step-20 Avg@8 | step-40 Avg@8 | final Avg@8 |"
    rows = table_rows(text, header)
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| aero", "0, 1, 2, 3, 4, 5"],
        ["| aero_stats_generated", "0, 1, 2, 3, 4, 5"],
        ["| grpo", "0, 1, 2, 3, 4, 5"],
    ]
    readme = PAGE.read_text()
    section = readme[readme.index("**Six seeds of both arms") :]
    assert table_rows(section, header) == rows


def test_the_committed_runs_configuration_is_read_from_their_overrides():
    """Only Hydra's overrides.yaml is committed: the estimator and validation sampling are read from it."""
    for run in (RUNS / "aero_s0", RUNS / "grpo_s2"):
        config = rp.read_run_config(run)
        assert config == {
            "adv_estimator": run.name.split("_")[0],
            "val_n": 64,
            "val_temperature": 1.0,
            "val_top_p": 1.0,
        }
