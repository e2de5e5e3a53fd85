"""The paired-seed comparison of DESIGN.md §7: its decision measure, its rules, its table and its plot.

Why: a 1-point difference in held-out accuracy between AERO and GRPO is within one run's noise; it is resolved only
by runs paired by seed (same warm start, data order and sampling) and a measure fixed before the runs. The measure is
the mean held-out Avg@k of a run's last two validations; the rules (which ``update_sizing`` becomes the default,
whether ``degenerate_loss_share`` is switched on) are DESIGN.md §7's, applied here so that the script that runs the
comparison and the README's table read the same numbers. Runs are named ``<arm>_s<seed>``
(``run_scripts/run_cpu_seeds.sh``); every number is read from their verl JSONL logs.

CLI::

    python -m recipe.aero.comparison check-grpo RUNS_DIR [--min-gain 0.10]   # exit 1 unless GRPO learns every seed
    python -m recipe.aero.comparison pick-sizing RUNS_DIR                    # prints steps or samples
    python -m recipe.aero.comparison table RUN_DIR [RUN_DIR ...] --out DIR   # comparison.md + comparison.png
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from recipe.aero.ablations import PairedDifference
from recipe.aero.report import STEP_TIME_KEY, History, find_log_file, load_history, series, validation_at
from recipe.aero.report import validation_steps as _validation_steps
from recipe.aero.seeds import SeedStat, arm_of, plus_minus, seed_of, spent_until

BASELINE = "grpo"
SIZING_ARMS = {"steps": "aero_steps", "samples": "aero_samples"}
LEAD_IN_STANDARD_ERRORS = 2.0
MEASURE_VALIDATIONS = 2  # the decision measure averages this many last validations

Runs = dict[str, dict[int, History]]  # arm -> seed -> history


def load_runs(paths: list[str | Path]) -> Runs:
    """Every run named ``<arm>_s<seed>`` among ``paths`` (run directories), grouped by arm and seed.

    Raises:
        ValueError: for a run without a seed suffix (it cannot be paired).
    """
    runs: Runs = {}
    for path in paths:
        name = Path(path).resolve().name
        seed = seed_of(name)
        if seed is None:
            raise ValueError(f"run {path}: its name has no _s<seed> suffix, so it cannot be paired by seed")
        runs.setdefault(arm_of(name), {})[seed] = load_history(find_log_file(path))
    return runs


def runs_in(directory: str | Path) -> Runs:
    """Every finished run (a ``DONE`` marker from ``run_cpu_demo.sh``) under ``directory``."""
    paths = sorted(
        p for p in Path(directory).iterdir() if p.is_dir() and (p / "DONE").is_file() and seed_of(p.name) is not None
    )
    return load_runs(paths)


def dataset_of(runs: Runs, k: int) -> str:
    """The one held-out data source the runs validate on.

    Raises:
        ValueError: when they validate on several (this comparison reads one) or none.
    """
    sources = {
        ds
        for seeds in runs.values()
        for history in seeds.values()
        for step in _validation_steps(history, k)
        for ds in validation_at(history[step], k)
    }
    if len(sources) != 1:
        raise ValueError(f"the comparison reads one held-out data source, the runs validate on {sorted(sources)}")
    return sources.pop()


def avg_by_step(history: History, k: int, dataset: str) -> dict[int, float]:
    """Held-out Avg@k at every validation step of one run."""
    points = {
        step: validation_at(history[step], k).get(dataset, {}).get("avg") for step in _validation_steps(history, k)
    }
    return {step: value for step, value in points.items() if value is not None}


def decision_measure(history: History, k: int, dataset: str) -> float | None:
    """Mean held-out Avg@k of the run's last two validations (DESIGN.md §7); None with fewer than two."""
    avg = avg_by_step(history, k, dataset)
    last = sorted(avg)[-MEASURE_VALIDATIONS:]
    if len(last) < MEASURE_VALIDATIONS or last[0] == 0:
        return None
    return statistics.fmean(avg[step] for step in last)


def paired(runs: Runs, arm: str, reference: str, k: int, dataset: str) -> PairedDifference:
    """Decision measure of ``arm`` minus ``reference``'s, seed by seed, over the seeds both ran."""
    measures = {
        name: {seed: decision_measure(history, k, dataset) for seed, history in runs.get(name, {}).items()}
        for name in (arm, reference)
    }
    return PairedDifference.of(measures[arm], measures[reference])


def leads(difference: PairedDifference) -> bool:
    """True when the mean difference is positive by more than ``LEAD_IN_STANDARD_ERRORS`` standard errors."""
    return difference.t is not None and difference.t > LEAD_IN_STANDARD_ERRORS


def pick_sizing(runs: Runs, k: int, dataset: str) -> tuple[str, PairedDifference]:
    """DESIGN.md §7, rule 1: ``samples`` unless ``steps`` leads it by more than 2 standard errors.

    Raises:
        ValueError: when the two arms share fewer than two seeds (no standard error).
    """
    difference = paired(runs, SIZING_ARMS["steps"], SIZING_ARMS["samples"], k, dataset)
    if len(difference.seeds) < 2:
        raise ValueError(f"{SIZING_ARMS} share {len(difference.seeds)} seed(s) with a decision measure; need >= 2")
    return ("steps" if leads(difference) else "samples"), difference


def grpo_gains(runs: Runs, k: int, dataset: str) -> dict[int, float | None]:
    """Per GRPO seed: held-out Avg@k at its last validation minus at step 0 (None when either is missing)."""
    gains = {}
    for seed, history in runs.get(BASELINE, {}).items():
        avg = avg_by_step(history, k, dataset)
        gains[seed] = avg[max(avg)] - avg[0] if 0 in avg and len(avg) > 1 else None
    return gains


@dataclass
class ComparisonRow:
    """One arm of the table. Ratios are to GRPO's mean; ``to_target_*`` over the seeds that reached the target."""

    arm: str
    seeds: list[int]
    final_avg: SeedStat
    final_pass: SeedStat
    measure: SeedStat
    versus_grpo: PairedDifference | None
    flops_ratio: float | None
    step_time_ratio: float | None
    reached: int
    flops_to_target_ratio: float | None
    time_to_target_ratio: float | None


def _to_target(history: History, k: int, dataset: str, target: float) -> dict[str, float | None] | None:
    avg = avg_by_step(history, k, dataset)
    step = next((s for s in sorted(avg) if avg[s] >= target), None)
    return None if step is None else spent_until(history, step)


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return None if value is None or not baseline else value / baseline


def summarize(runs: Runs, k: int, dataset: str) -> tuple[float | None, list[ComparisonRow]]:
    """The table's rows (GRPO first, then the AERO arms in name order) and the target (GRPO's mean final Avg@k)."""
    if BASELINE not in runs:
        raise ValueError(f"no {BASELINE}_s<seed> run among the arms {sorted(runs)}")

    def finals(arm: str, kind: str) -> list[float | None]:
        out = []
        for history in runs[arm].values():
            steps = _validation_steps(history, k)
            out.append(validation_at(history[steps[-1]], k).get(dataset, {}).get(kind) if steps else None)
        return out

    def mean_of(arm: str, value) -> float | None:
        return SeedStat.of([value(history) for history in runs[arm].values()]).mean

    def step_time(history: History) -> float | None:
        points = [value for step, value in series(history, STEP_TIME_KEY) if step > 0][1:]  # step 1: warm-up
        return statistics.fmean(points) if points else None

    def total_flops(history: History) -> float | None:
        points = series(history, "aero/cumulative/total_flops")
        return points[-1][1] if points else None

    target = SeedStat.of(finals(BASELINE, "avg")).mean
    spent = {
        arm: [_to_target(history, k, dataset, target) for history in runs[arm].values()] if target is not None else []
        for arm in runs
    }

    def to_target_mean(arm: str, key: str) -> float | None:
        return SeedStat.of([entry[key] for entry in spent[arm] if entry is not None]).mean

    rows = []
    for arm in [BASELINE, *sorted(a for a in runs if a != BASELINE)]:
        rows.append(
            ComparisonRow(
                arm=arm,
                seeds=sorted(runs[arm]),
                final_avg=SeedStat.of(finals(arm, "avg")),
                final_pass=SeedStat.of(finals(arm, "pass")),
                measure=SeedStat.of([decision_measure(h, k, dataset) for h in runs[arm].values()]),
                versus_grpo=None if arm == BASELINE else paired(runs, arm, BASELINE, k, dataset),
                flops_ratio=_ratio(mean_of(arm, total_flops), mean_of(BASELINE, total_flops)),
                step_time_ratio=_ratio(mean_of(arm, step_time), mean_of(BASELINE, step_time)),
                reached=sum(entry is not None for entry in spent[arm]),
                flops_to_target_ratio=_ratio(to_target_mean(arm, "flops"), to_target_mean(BASELINE, "flops")),
                time_to_target_ratio=_ratio(to_target_mean(arm, "train_s"), to_target_mean(BASELINE, "train_s")),
            )
        )
    return target, rows


def _difference(difference: PairedDifference | None) -> str:
    if difference is None:
        return "—"
    if difference.se is None:
        return "n/a" if difference.mean is None else f"{100 * difference.mean:+.1f} (1 seed)"
    t = "n/a" if difference.t is None else f"{difference.t:.1f}"
    return f"{100 * difference.mean:+.1f} ± {100 * difference.se:.1f} (t = {t})"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def render(runs: Runs, k: int, dataset: str) -> str:
    """Markdown: the comparison table, the decisions DESIGN.md §7's rules give, and how to read them."""
    target, rows = summarize(runs, k, dataset)
    target_text = "n/a" if target is None else f"{target:.3f}"
    lines = [
        f"| arm | seeds | final Avg@{k} | final Pass@{k} | last-two Avg@{k} | − `grpo`, paired (points) "
        f"| total compute | s/step | compute to target | time to target |",
        "|" + "---|" * 10,
    ]
    for row in rows:
        lines.append(
            f"| {row.arm} | {','.join(map(str, row.seeds))} | {plus_minus(row.final_avg, with_n=False)} "
            f"| {plus_minus(row.final_pass, with_n=False)} | {plus_minus(row.measure, with_n=False)} "
            f"| {_difference(row.versus_grpo)} | {_times(row.flops_ratio)} | {_times(row.step_time_ratio)} "
            f"| {_times(row.flops_to_target_ratio)} ({row.reached}/{len(row.seeds)}) "
            f"| {_times(row.time_to_target_ratio)} |"
        )
    lines += [
        "",
        f"Held-out `{dataset}`; ± is the std over seeds, except in the paired column (mean ± standard error of the "
        f"per-seed differences, in points of Avg@{k}). Last-two Avg@{k} is DESIGN.md §7's decision measure: the mean "
        f"of the last two validations. Compute, s/step (steps 2-40) and to-target are ratios to `grpo`'s mean; the "
        f"target is `grpo`'s mean final Avg@{k} = {target_text}, reached (n/N) at a validation step, costed in "
        "cumulative FLOPs and in training seconds (verl's `timing_s/step`, validation excluded) over the seeds that "
        "reached it.",
    ]
    decisions = _decisions(runs, k, dataset)
    if decisions:
        lines += ["", *decisions]
    return "\n".join(lines) + "\n"


def _decisions(runs: Runs, k: int, dataset: str) -> list[str]:
    """DESIGN.md §7's rules on these runs, when the arms they read are present."""
    if not all(arm in runs for arm in SIZING_ARMS.values()):
        return []
    sizing, difference = pick_sizing(runs, k, dataset)
    lines = [
        f"- `update_sizing` (rule 1): `aero_steps` − `aero_samples` = {_difference(difference)} points → "
        f"**`{sizing}`**."
    ]
    share_arm, base_arm = f"aero_{sizing}_share", SIZING_ARMS[sizing]
    if share_arm in runs:
        share = paired(runs, share_arm, base_arm, k, dataset)
        verdict = "0.5" if leads(share) else "1 (off)"
        lines.append(
            f"- `degenerate_loss_share` (rule 2): `{share_arm}` − `{base_arm}` = {_difference(share)} points → "
            f"**{verdict}**."
        )
    return lines


def plot(runs: Runs, k: int, dataset: str, path: Path) -> Path:
    """Held-out Avg@k against cumulative compute and against training seconds: mean over seeds, band ± std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for arm in [BASELINE, *sorted(a for a in runs if a != BASELINE)]:
        per_step: dict[int, list[tuple[float, float, float]]] = {}
        for history in runs[arm].values():
            flops = dict(series(history, "aero/cumulative/total_flops"))
            for step, avg in avg_by_step(history, k, dataset).items():
                spent = spent_until(history, step)
                if step == 0 or (flops.get(step) is not None and spent["train_s"] is not None):
                    per_step.setdefault(step, []).append((0.0 if step == 0 else flops[step], spent["train_s"], avg))
        steps = sorted(per_step)
        for axis, column in ((axes[0], 0), (axes[1], 1)):
            x = [statistics.fmean(point[column] for point in per_step[s]) for s in steps]
            y = [statistics.fmean(point[2] for point in per_step[s]) for s in steps]
            spread = [statistics.stdev(p[2] for p in per_step[s]) if len(per_step[s]) > 1 else 0.0 for s in steps]
            (line,) = axis.plot(x, y, marker="o", label=f"{arm} ({len(runs[arm])} seeds)")
            axis.fill_between(
                x,
                [a - b for a, b in zip(y, spread, strict=True)],
                [a + b for a, b in zip(y, spread, strict=True)],
                color=line.get_color(),
                alpha=0.15,
            )
    axes[0].set_xlabel("cumulative training compute [FLOPs]")
    axes[1].set_xlabel("cumulative training time [s] (timing_s/step)")
    axes[0].set_ylabel(f"held-out Avg@{k} ({dataset})")
    for axis in axes:
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize="small", loc="lower right")
    fig.suptitle("AERO vs GRPO over paired seeds: mean, band ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-grpo", help="exit 1 unless every GRPO seed gains at least --min-gain")
    check.add_argument("runs_dir")
    check.add_argument("--min-gain", type=float, default=0.10)
    pick = sub.add_parser("pick-sizing", help="print the update sizing DESIGN.md §7's rule 1 picks")
    pick.add_argument("runs_dir")
    table = sub.add_parser("table", help="write comparison.md and comparison.png")
    table.add_argument("runs", nargs="+")
    table.add_argument("--out", required=True)
    for command in (check, pick, table):
        command.add_argument("--k", type=int, default=8)
    args = parser.parse_args(argv)

    runs = load_runs(args.runs) if args.command == "table" else runs_in(args.runs_dir)
    dataset = dataset_of(runs, args.k)
    if args.command == "check-grpo":
        gains = grpo_gains(runs, args.k, dataset)
        short = {seed: gain for seed, gain in gains.items() if gain is None or gain < args.min_gain}
        print(
            f"GRPO gain in held-out Avg@{args.k} per seed: "
            + ", ".join(f"s{seed} {'n/a' if gain is None else f'{gain:+.3f}'}" for seed, gain in sorted(gains.items()))
        )
        return 1 if short or not gains else 0
    if args.command == "pick-sizing":
        sizing, _ = pick_sizing(runs, args.k, dataset)
        print(sizing)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(render(runs, args.k, dataset))
    plot(runs, args.k, dataset, out / "comparison.png")
    print((out / "comparison.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
