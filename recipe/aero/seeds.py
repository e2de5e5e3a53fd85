"""Across-seed summary of the report: mean ± std per arm, and compute- and time-to-target (issue 14).

Why: on a small held-out set one run per arm cannot tell AERO from GRPO; the comparison the paper makes needs the
spread over seeds, and the measure GRESO, Pilot-Commit and DUET report: what each arm spends to first reach the
baseline's final accuracy. Runs of one arm are named ``<arm>_s<seed>`` (``run_scripts/run_cpu_seeds.sh`` writes
them so); a run without that suffix is its own arm with one seed.

Every number is read from the runs' JSONL logs through ``recipe.aero.report``; nothing is re-derived.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

from recipe.aero.report import STEP_TIME_KEY, ArmSummary, History, series, validation_at, validation_steps

_SEED_SUFFIX = re.compile(r"^(?P<arm>.+)_s(?P<seed>\d+)$")


def arm_of(run_name: str) -> str:
    """``"aero_s2"`` -> ``"aero"``; a name without a seed suffix is its own arm."""
    match = _SEED_SUFFIX.match(run_name)
    return match["arm"] if match else run_name


def seed_of(run_name: str) -> int | None:
    """``"aero_decay0_s2"`` -> 2; None for a name without a seed suffix."""
    match = _SEED_SUFFIX.match(run_name)
    return int(match["seed"]) if match else None


@dataclass
class SeedStat:
    """Mean, sample standard deviation and count of one quantity over an arm's seeds (None: no seed logged it)."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float | None]) -> SeedStat:
        known = [v for v in values if v is not None]
        if not known:
            return cls(None, None, 0)
        return cls(statistics.fmean(known), statistics.stdev(known) if len(known) > 1 else 0.0, len(known))


@dataclass
class ArmAcrossSeeds:
    """One arm over its seeds. ``to_target`` holds, per seed, the cumulative FLOPs and training seconds spent
    when its held-out Avg@k first reached the target (None: never reached within the run)."""

    arm: str
    runs: list[str]
    start_avg: SeedStat
    final_avg: SeedStat
    final_pass: SeedStat
    gain: SeedStat
    total_flops: SeedStat
    step_time: SeedStat
    zero_adv_share_trained: SeedStat
    to_target: list[dict[str, float | None]] = field(default_factory=list)


def first_at_or_above(history: History, k: int, dataset: str, target: float) -> int | None:
    """The first validation step whose Avg@k on ``dataset`` is at least ``target``."""
    for step in validation_steps(history, k):
        avg = validation_at(history[step], k).get(dataset, {}).get("avg")
        if avg is not None and avg >= target:
            return step
    return None


def spent_until(history: History, step: int) -> dict[str, float | None]:
    """Cumulative training FLOPs and training seconds (sum of ``timing_s/step``) up to and including ``step``."""
    if step == 0:
        return {"flops": 0.0, "train_s": 0.0}
    flops = dict(series(history, "aero/cumulative/total_flops")).get(step)
    seconds = [value for s, value in series(history, STEP_TIME_KEY) if 0 < s <= step]
    return {"flops": flops, "train_s": sum(seconds) if seconds else None}


def summarize_across_seeds(
    histories: dict[str, History], arms: list[ArmSummary], k: int, dataset: str, baseline_arm: str
) -> tuple[float | None, list[ArmAcrossSeeds]]:
    """Groups runs by arm and summarizes each; the target is the baseline arm's mean final Avg@k on ``dataset``.

    Returns:
        ``(target, rows)``; rows in the order their arms first appear in ``arms``.
    """
    by_arm: dict[str, list[ArmSummary]] = {}
    for run in arms:
        by_arm.setdefault(arm_of(run.name), []).append(run)
    finals = {name: [run.final_val.get(dataset, {}).get("avg") for run in runs] for name, runs in by_arm.items()}
    target = SeedStat.of(finals.get(baseline_arm, [])).mean
    rows = []
    for name, runs in by_arm.items():
        starts, gains, zero_adv, to_target = [], [], [], []
        for run in runs:
            history = histories[run.name]
            steps = validation_steps(history, k)
            first = validation_at(history[0], k).get(dataset, {}).get("avg") if steps and steps[0] == 0 else None
            final = run.final_val.get(dataset, {}).get("avg")
            starts.append(first)
            gains.append(None if first is None or final is None else final - first)
            shares = [v for s, v in series(history, "aero/zero_adv_share/after") if s > 0]
            zero_adv.append(statistics.fmean(shares) if shares else None)
            reached = None if target is None else first_at_or_above(history, k, dataset, target)
            to_target.append({"step": reached, **(spent_until(history, reached) if reached is not None else {})})
        rows.append(
            ArmAcrossSeeds(
                arm=name,
                runs=[run.name for run in runs],
                start_avg=SeedStat.of(starts),
                final_avg=SeedStat.of(finals[name]),
                final_pass=SeedStat.of([run.final_val.get(dataset, {}).get("pass") for run in runs]),
                gain=SeedStat.of(gains),
                total_flops=SeedStat.of([run.cumulative.get("total_flops") for run in runs]),
                step_time=SeedStat.of([run.step_time_mean_s for run in runs]),
                zero_adv_share_trained=SeedStat.of(zero_adv),
                to_target=to_target,
            )
        )
    return target, rows


def plus_minus(stat: SeedStat, spec: str = ".3f", with_n: bool = True) -> str:
    """``mean ± std (n=N)`` of a table cell; ``n/a`` when no seed logged it."""
    if stat.mean is None:
        return "n/a"
    return f"{stat.mean:{spec}} ± {stat.std:{spec}}" + (f" (n={stat.n})" if with_n else "")


def _ratio(value: float | None, baseline: float | None) -> str:
    return "n/a" if value is None or not baseline else f"{value / baseline:.2f}x"


def render_across_seeds(
    target: float | None, rows: list[ArmAcrossSeeds], k: int, dataset: str, baseline: str
) -> list[str]:
    """Markdown: the across-seed table and the compute-/time-to-target table."""
    base = next((row for row in rows if row.arm == baseline), None)
    lines = [f"## Across seeds (`{dataset}`, mean ± std over seeds)", ""]
    lines.append(
        f"| arm | runs | step-0 Avg@{k} | final Avg@{k} | final Pass@{k} | gain over step 0 | total FLOPs "
        f"| total FLOPs vs `{baseline}` | s/step | s/step vs `{baseline}` | zero-adv. share of trained prompts |"
    )
    lines.append("|" + "---|" * 11)
    for row in rows:
        flops_ratio = _ratio(row.total_flops.mean, base.total_flops.mean if base else None)
        time_ratio = _ratio(row.step_time.mean, base.step_time.mean if base else None)
        lines.append(
            f"| {row.arm} | {len(row.runs)} | {plus_minus(row.start_avg)} | {plus_minus(row.final_avg)} "
            f"| {plus_minus(row.final_pass)} | {plus_minus(row.gain)} "
            f"| {plus_minus(row.total_flops, '.3g')} | {flops_ratio} | {plus_minus(row.step_time, '.2f')} "
            f"| {time_ratio} "
            f"| {plus_minus(row.zero_adv_share_trained)} |"
        )
    target_text = "n/a" if target is None else f"{target:.3f}"
    lines += ["", f"## To target: first validation at or above `{baseline}`'s mean final Avg@{k} = {target_text}", ""]
    lines.append(
        "| arm | seeds that reached it | mean FLOPs to target | mean training s to target | (per seed: step) |"
    )
    lines.append("|---|---|---|---|---|")
    for row in rows:
        reached = [entry for entry in row.to_target if entry.get("step") is not None]
        flops = SeedStat.of([entry.get("flops") for entry in reached])
        seconds = SeedStat.of([entry.get("train_s") for entry in reached])
        per_seed = ", ".join(f"{run}: {entry.get('step')}" for run, entry in zip(row.runs, row.to_target, strict=True))
        lines.append(
            f"| {row.arm} | {len(reached)}/{len(row.runs)} | {plus_minus(flops, '.3g')} "
            f"| {plus_minus(seconds, '.1f')} | {per_seed} |"
        )
    lines.append("")
    lines.append(
        "Every seed starts from the same warm-started model, so the std of step-0 Avg is the validation's own noise. "
        "Means to target are over the seeds that reached it; a seed that never reached the target within its run "
        "is counted in the second column only. Training seconds sum verl's `timing_s/step` (validation excluded)."
    )
    return lines
