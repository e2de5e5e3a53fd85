"""Ablation table of the report: each variant of an arm against that arm, paired by seed (issue 14).

Why: an ablation changes one key of an arm (``run_scripts/run_cpu_seeds.sh`` names its runs
``<arm>_<ablation>_s<seed>``, e.g. ``aero_decay0_s1`` next to the default's ``aero_s1``). Two runs of one seed share
the data order and the sampler's seed, so the difference of their final accuracies varies far less over seeds than
either arm's own final does: the effect of an ablation is the mean of those paired differences, with its standard
error over the seeds both ran. The table also shows what an ablation costs and whether it reached the target
(``recipe.aero.seeds``). Every number comes from the across-seed rows and the runs' logs; nothing is re-derived.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from recipe.aero.report import ArmSummary, History, validation_at, validation_steps
from recipe.aero.seeds import ArmAcrossSeeds, SeedStat, plus_minus, seed_of


def variants_of(arm_names: list[str]) -> dict[str, str]:
    """``{variant: default}`` for every arm named ``<default>_<something>`` where ``<default>`` is another arm.

    The longest such ``<default>`` wins, so ``aero_race_guided`` next to ``aero_race`` and ``aero`` is a variant of
    ``aero_race``.
    """
    result = {}
    for name in arm_names:
        defaults = [other for other in arm_names if other != name and name.startswith(f"{other}_")]
        if defaults:
            result[name] = max(defaults, key=len)
    return result


@dataclass
class PairedDifference:
    """Final Avg@k of one arm minus another's on the same seeds. ``se`` and ``t`` need two seeds (else None)."""

    seeds: list[int]
    diffs: list[float]
    mean: float | None
    se: float | None
    t: float | None

    @classmethod
    def of(cls, finals: dict[int, float | None], reference: dict[int, float | None]) -> PairedDifference:
        common = finals.keys() & reference.keys()
        seeds = sorted(s for s in common if s is not None and None not in (finals[s], reference[s]))
        diffs = [finals[s] - reference[s] for s in seeds]
        if not diffs:
            return cls([], [], None, None, None)
        mean = statistics.fmean(diffs)
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else None
        return cls(seeds, diffs, mean, se, mean / se if se else None)


@dataclass
class AblationRow:
    """One arm of an ablation block. ``paired`` is against the block's default arm (None on the default's row)."""

    arm: str
    default: str
    seeds: list[int | None]
    val_avg: dict[int, SeedStat]
    final_avg: SeedStat
    final_pass: SeedStat
    flops_vs_baseline: float | None
    train_rollouts: SeedStat
    reached: list[int | None]
    finals: list[float | None]
    paired: PairedDifference | None


def _finals(row: ArmAcrossSeeds, runs: dict[str, ArmSummary], dataset: str) -> dict[int | None, float | None]:
    """Final Avg@k per seed (a run without a seed suffix is keyed None and never paired)."""
    return {seed_of(name): runs[name].final_val.get(dataset, {}).get("avg") for name in row.runs}


def summarize_ablations(
    histories: dict[str, History],
    arms: list[ArmSummary],
    rows: list[ArmAcrossSeeds],
    k: int,
    dataset: str,
    baseline_arm: str,
) -> list[AblationRow]:
    """One block per arm that has variants: the arm, its variants, then the baseline arm (if it is another arm).

    Args:
        histories: every run's history, by run name.
        arms: every run's summary (``recipe.aero.report.summarize_arm``).
        rows: the across-seed rows of ``recipe.aero.seeds.summarize_across_seeds`` for ``dataset``.
        k: samples per problem of the validation metrics.
        dataset: the data source whose Avg@k is compared.
        baseline_arm: the arm the cost is relative to (GRPO); shown after each block, paired against its default.

    Returns:
        The rows of every block in order; a block starts at the row whose ``arm == default``.
    """
    runs = {arm.name: arm for arm in arms}
    by_arm = {row.arm: row for row in rows}
    baseline = by_arm.get(baseline_arm)
    base_flops = baseline.total_flops.mean if baseline else None
    variant_default = variants_of([row.arm for row in rows])
    result = []
    for default in dict.fromkeys(variant_default.values()):
        block = [default, *(v for v, d in variant_default.items() if d == default)]
        if baseline_arm not in block and baseline is not None:
            block.append(baseline_arm)
        reference = _finals(by_arm[default], runs, dataset)
        for name in block:
            row = by_arm[name]
            val_avg: dict[int, list[float | None]] = {}
            for run in row.runs:
                for step in validation_steps(histories[run], k):
                    avg = validation_at(histories[run][step], k).get(dataset, {}).get("avg")
                    val_avg.setdefault(step, []).append(avg)
            finals = _finals(row, runs, dataset)
            result.append(
                AblationRow(
                    arm=name,
                    default=default,
                    seeds=[seed_of(run) for run in row.runs],
                    val_avg={step: SeedStat.of(values) for step, values in sorted(val_avg.items())},
                    final_avg=row.final_avg,
                    final_pass=row.final_pass,
                    flops_vs_baseline=row.total_flops.mean / base_flops
                    if row.total_flops.mean is not None and base_flops
                    else None,
                    train_rollouts=SeedStat.of([runs[run].cumulative.get("train_rollouts") for run in row.runs]),
                    reached=[entry.get("step") for entry in row.to_target],
                    finals=[runs[run].final_val.get(dataset, {}).get("avg") for run in row.runs],
                    paired=None if name == default else PairedDifference.of(finals, reference),
                )
            )
    return result


def _paired(paired: PairedDifference | None) -> str:
    if paired is None:
        return "—"
    if paired.mean is None:
        return "n/a (no common seed)"
    if paired.se is None:
        return f"{paired.mean:+.3f} (1 seed)"
    t = "n/a" if paired.t is None else f"{paired.t:.1f}"
    return f"{paired.mean:+.3f} ± {paired.se:.3f} (t = {t}, {len(paired.seeds)} seeds)"


def render_ablations(
    ablations: list[AblationRow], target: float | None, k: int, dataset: str, baseline: str
) -> list[str]:
    """Markdown: one table per block, validation steps as columns, the paired difference last."""
    if not ablations:
        return []
    target_text = "n/a" if target is None else f"{target:.3f}"
    lines = [f"## Ablations (`{dataset}`): each variant against its default arm, paired by seed", ""]
    for default in dict.fromkeys(row.default for row in ablations):
        block = [row for row in ablations if row.default == default]
        steps = sorted({step for row in block for step in row.val_avg})
        lines.append(
            "| arm | seeds | "
            + " | ".join(f"step-{step} Avg@{k}" for step in steps)
            + f" | final Avg@{k} | final Pass@{k} | total FLOPs vs `{baseline}` | trained rollouts "
            f"| reached {target_text} (step per seed) | final per seed | final − `{default}`, paired |"
        )
        lines.append("|" + "---|" * (9 + len(steps)))
        for row in block:
            cells = [row.arm, ", ".join(str(seed) for seed in row.seeds)]
            cells += [plus_minus(row.val_avg[step], with_n=False) if step in row.val_avg else "n/a" for step in steps]
            cells += [plus_minus(row.final_avg, with_n=False), plus_minus(row.final_pass, with_n=False)]
            cells.append("n/a" if row.flops_vs_baseline is None else f"{row.flops_vs_baseline:.2f}x")
            cells.append("n/a" if row.train_rollouts.mean is None else f"{row.train_rollouts.mean:,.0f}")
            reached = sum(step is not None for step in row.reached)
            per_seed = ", ".join("—" if step is None else str(step) for step in row.reached)
            cells.append(f"{reached}/{len(row.reached)} ({per_seed})")
            cells.append(", ".join("n/a" if value is None else f"{value:.3f}" for value in row.finals))
            cells.append(_paired(row.paired))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(
        f"Avg@{k} cells are mean ± std over the arm's seeds. The paired difference is the mean over the seeds both "
        f"arms ran of (arm − default) final Avg@{k}, ± its standard error (std of the differences / sqrt(seeds)); "
        "t = mean / standard error. Trained rollouts are the mean over seeds of the run's total."
    )
    return lines
