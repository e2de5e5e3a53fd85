"""Paper-style comparison table and plots from verl's JSONL metric logs (GPU and CPU runs alike).

Why: the paper's claims are a table per arm (AERO vs GRPO): held-out Avg@8 and Pass@8, rollouts and tokens
generated and trained, total training compute and wall-clock per step, and AERO's reduction of the last two
relative to GRPO. Every number here is read from what the trainer logged; nothing is recomputed from a model,
and a metric that a run did not log is shown as ``n/a`` instead of failing.

Input: one run directory (or JSONL file) per arm. verl's file logger (``trainer.logger=[...,file]``) writes one
line ``{"step": N, "data": {metric: value}}`` per logged step to ``$VERL_FILE_LOGGER_PATH`` (else
``$VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl``); step 0 holds the validation before training. A run
directory is searched for ``metrics.jsonl`` first, then for any ``*.jsonl`` (either may be ``.gz``). The arm's name
is the directory name; its estimator and validation sampling are read from ``.hydra/config.yaml`` when present.

Usage::

    python -m recipe.aero.report RUN_DIR [RUN_DIR ...] --out DIR [--k 8] [--baseline NAME]

Runs named ``<arm>_s<seed>`` are seeds of one arm: the report then adds mean ± std over seeds and compute- and
time-to-target (``recipe.aero.seeds``); arms named ``<arm>_<ablation>`` are ablations of ``<arm>``, compared with it
seed by seed (``recipe.aero.ablations``).

writes ``DIR/report.md``, ``DIR/summary.json`` and ``DIR/{accuracy_vs_compute,step_time,zero_adv_share}.png``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

NA = "n/a"
CUMULATIVE_KEYS = (
    "gen_rollouts",
    "train_rollouts",
    "gen_response_tokens",
    "train_response_tokens",
    "total_flops",
)
STEP_TIME_KEY = "timing_s/step"
ZERO_ADV_KEYS = ("aero/zero_adv_share/before", "aero/zero_adv_share/after")
_AERO_VAL = re.compile(r"^aero_val/(?P<ds>.+)/(?P<kind>avg|pass)@(?P<k>\d+)$")
_VERL_VAL = re.compile(r"^val-core/(?P<ds>.+)/acc/mean@(?P<k>\d+)$")

History = dict[int, dict[str, object]]


def find_log_file(run: str | Path) -> Path:
    """The JSONL file of a run: the path itself if it is a file, else ``metrics.jsonl``, else the one ``*.jsonl``.

    Each may be gzip-compressed (``.jsonl.gz``), as the logs committed under ``docs/results`` are.

    Raises:
        FileNotFoundError: if there is no JSONL file, or several and none is called ``metrics.jsonl``.
    """
    path = Path(run)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"run {path} does not exist")
    for name in ("metrics.jsonl", "metrics.jsonl.gz"):
        if (path / name).is_file():
            return path / name
    candidates = sorted([*path.rglob("*.jsonl"), *path.rglob("*.jsonl.gz")])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(f"no *.jsonl metric log under {path} (set trainer.logger to include 'file')")
    raise FileNotFoundError(f"several *.jsonl under {path} and none is metrics.jsonl: {[str(c) for c in candidates]}")


def load_history(path: str | Path) -> History:
    """Reads a verl file-logger JSONL into ``{step: {metric: value}}``; repeated steps (resume) merge, last wins.

    A truncated last line (a run still writing) is skipped with a warning; a malformed line elsewhere is an error.

    Raises:
        ValueError: naming the file and line of a malformed record.
    """
    path = Path(path)
    lines = (gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()).decode().splitlines()
    history: History = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            step, data = int(record["step"]), record["data"]
            if not isinstance(data, dict):
                raise TypeError("'data' is not an object")
        except (ValueError, KeyError, TypeError) as err:
            if number == len(lines):
                logger.warning("%s:%d: skipping incomplete last line (%s)", path, number, err)
                continue
            raise ValueError(f"{path}:{number}: not a verl file-logger record {{'step', 'data'}}: {err}") from err
        history.setdefault(step, {}).update(data)
    return history


def numeric(value: object) -> float | None:
    """The value as a finite float, or None (strings, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def series(history: History, key: str) -> list[tuple[int, float]]:
    """(step, value) for every step that logged ``key`` numerically, in step order."""
    points = ((step, numeric(metrics.get(key))) for step, metrics in sorted(history.items()))
    return [(step, value) for step, value in points if value is not None]


def last_value(history: History, key: str) -> float | None:
    """The value of ``key`` at the last step that logged it."""
    points = series(history, key)
    return points[-1][1] if points else None


def training_steps(history: History) -> list[int]:
    """Steps that trained (logged ``timing_s/step`` or ``training/global_step``); step 0 is validation only."""
    return [s for s, m in sorted(history.items()) if s > 0 and (STEP_TIME_KEY in m or "training/global_step" in m)]


def validation_at(metrics: dict[str, object], k: int) -> dict[str, dict[str, float | None]]:
    """Per data source ``{"avg", "pass", "avg_source"}`` from one step's metrics.

    Avg@k comes from ``aero_val/{ds}/avg@n`` with the most samples n >= k (the mean accuracy per sample estimates
    the same quantity for every n, with less noise the larger n is: a validation with ``val_kwargs.n=64`` reports
    Avg@8 from its 64 samples per problem) or, failing that, verl's ``val-core/{ds}/acc/mean@k``; Pass@k only from
    ``aero_val/{ds}/pass@k``, which the recipe logs unbiased for every power of two up to n (verl's ``best@k`` is a
    biased bootstrap, DESIGN.md §4).
    """
    result: dict[str, dict[str, float | None]] = {}

    def entry(ds: str) -> dict[str, float | None]:
        return result.setdefault(ds, {"avg": None, "pass": None, "avg_source": None})

    logged = [
        (m["ds"], m["kind"], int(m["k"]), numeric(v)) for key, v in metrics.items() if (m := _AERO_VAL.match(key))
    ]
    for ds, kind, n, value in sorted(logged, key=lambda row: row[2]):  # by n: the most samples is read last
        if value is None:
            continue
        if kind == "pass" and n == k:
            entry(ds)["pass"] = value
        elif kind == "avg" and n >= k:
            entry(ds)["avg"], entry(ds)["avg_source"] = value, "aero_val"
    for key, value in metrics.items():
        match = _VERL_VAL.match(key)
        if match and int(match["k"]) == k and numeric(value) is not None and entry(match["ds"])["avg"] is None:
            entry(match["ds"])["avg"], entry(match["ds"])["avg_source"] = numeric(value), "val-core"
    return result


def validation_steps(history: History, k: int) -> list[int]:
    """Steps that logged a validation result for ``k`` samples."""
    return [step for step, metrics in sorted(history.items()) if validation_at(metrics, k)]


def mean_step_time(history: History) -> tuple[float | None, int]:
    """Mean ``timing_s/step`` over training steps after the first (warm-up), and how many steps it averages."""
    points = [value for step, value in series(history, STEP_TIME_KEY) if step > 0]
    later = points[1:]
    return (sum(later) / len(later), len(later)) if later else (None, 0)


GENERATION_KEYS = {
    "timing_s/gen": "generation s",
    "aero/timing/explore_phase_s": "exploration phase s",
    "aero/timing/rescue_tail_s": "rescue tail s",
    "aero/timing/critical_path_rounds": "rounds on the critical path",
}


def mean_after_first(history: History, key: str) -> float | None:
    """Mean of ``key`` over training steps after the first (warm-up); None when never logged."""
    points = [value for step, value in series(history, key) if step > 0][1:]
    return sum(points) / len(points) if points else None


def reduction_pct(candidate: float | None, baseline: float | None) -> float | None:
    """``100 * (1 - candidate / baseline)``: positive when the candidate costs less; None if undefined."""
    if candidate is None or baseline is None or baseline == 0:
        return None
    return 100.0 * (1.0 - candidate / baseline)


def read_run_config(run: Path) -> dict[str, object]:
    """Estimator and validation sampling from the run's Hydra config, if the run dir has one.

    Falls back to Hydra's ``overrides.yaml`` (the command line's ``key=value`` list), which is what the logs
    committed under ``docs/results`` keep instead of the 36 kB resolved config; a key not overridden is then None.
    """
    from omegaconf import OmegaConf

    keys = {
        "adv_estimator": "algorithm.adv_estimator",
        "val_n": "actor_rollout_ref.rollout.val_kwargs.n",
        "val_temperature": "actor_rollout_ref.rollout.val_kwargs.temperature",
        "val_top_p": "actor_rollout_ref.rollout.val_kwargs.top_p",
    }
    for candidate in (run / ".hydra" / "config.yaml", run / "config.yaml"):
        if candidate.is_file():
            cfg = OmegaConf.load(candidate)
            return {name: OmegaConf.select(cfg, key, default=None) for name, key in keys.items()}
    for candidate in (run / ".hydra" / "overrides.yaml", run / "overrides.yaml"):
        if candidate.is_file():
            wanted = set(keys.values())
            given = [item.lstrip("+") for item in OmegaConf.load(candidate)]
            cfg = OmegaConf.from_dotlist([item for item in given if item.split("=", 1)[0] in wanted])
            return {name: OmegaConf.select(cfg, key, default=None) for name, key in keys.items()}
    return {}


@dataclass
class ArmSummary:
    """Everything the table shows for one arm; None means the run did not log it."""

    name: str
    log_file: str
    num_train_steps: int
    last_step: int | None
    final_val_step: int | None
    final_val: dict[str, dict[str, float | None]]
    cumulative: dict[str, float | None]
    step_time_mean_s: float | None
    step_time_num_steps: int
    config: dict[str, object] = field(default_factory=dict)
    generation: dict[str, float | None] = field(default_factory=dict)


def summarize_arm(name: str, history: History, k: int, log_file: str = "", config: dict | None = None) -> ArmSummary:
    """Reduces one run's history to the numbers of the report."""
    steps = training_steps(history)
    val_steps = validation_steps(history, k)
    step_time, step_time_n = mean_step_time(history)
    return ArmSummary(
        name=name,
        log_file=log_file,
        num_train_steps=len(steps),
        last_step=steps[-1] if steps else None,
        final_val_step=val_steps[-1] if val_steps else None,
        final_val=validation_at(history[val_steps[-1]], k) if val_steps else {},
        cumulative={key: last_value(history, f"aero/cumulative/{key}") for key in CUMULATIVE_KEYS},
        step_time_mean_s=step_time,
        step_time_num_steps=step_time_n,
        config=config or {},
        generation={key: mean_after_first(history, key) for key in GENERATION_KEYS},
    )


def pick_baseline(arms: list[ArmSummary], requested: str | None) -> ArmSummary:
    """The GRPO arm: the one named ``requested``, else logged with estimator grpo, else named *grpo*, else the first."""
    if requested is not None:
        for arm in arms:
            if arm.name == requested:
                return arm
        raise ValueError(f"--baseline {requested!r} is not one of the arms {[a.name for a in arms]}")
    for arm in arms:
        if arm.config.get("adv_estimator") == "grpo":
            return arm
    for arm in arms:
        if "grpo" in arm.name.lower():
            return arm
    return arms[0]


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return NA if value is None else format(value, spec)


def _fmt_pct(value: float | None) -> str:
    return NA if value is None else f"{value:.1f} %"


def _fmt_count(value: float | None) -> str:
    if value is None:
        return NA
    if abs(value) >= 1e6:
        return f"{value:.3e}"
    return f"{value:,.0f}"


def render_validation_curve(histories: dict[str, History], k: int) -> list[str]:
    """Markdown rows: held-out Avg@k of every arm and data source at every validation step (step 0 = before RL)."""
    steps = sorted({step for history in histories.values() for step in validation_steps(history, k)})
    if not steps:
        return []
    lines = [f"## Held-out Avg@{k} at every validation step", ""]
    lines.append("| arm | data source | " + " | ".join(f"step {s}" for s in steps) + " |")
    lines.append("|" + "---|" * (2 + len(steps)))
    for name, history in histories.items():
        per_step = {step: validation_at(history[step], k) for step in validation_steps(history, k)}
        for ds in sorted({ds for result in per_step.values() for ds in result}):
            cells = [_fmt(per_step.get(step, {}).get(ds, {}).get("avg")) for step in steps]
            lines.append(f"| {name} | {ds} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_markdown(arms: list[ArmSummary], baseline: ArmSummary, k: int, curve: list[str] | None = None) -> str:
    """The report: accuracy table(s), cost table and reductions vs the baseline, with the conventions stated."""
    datasets = sorted({ds for arm in arms for ds in arm.final_val})
    lines = ["# AERO vs GRPO", ""]
    lines += [f"## Held-out accuracy at the final validation (Avg@{k}, Pass@{k})", ""]
    header = ["arm", "estimator", "val step"] + [f"{ds} Avg@{k} | {ds} Pass@{k}" for ds in datasets]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * (3 + 2 * len(datasets)))
    for arm in arms:
        cells = [arm.name, str(arm.config.get("adv_estimator") or NA), str(arm.final_val_step or NA)]
        for ds in datasets:
            entry = arm.final_val.get(ds, {})
            avg = _fmt(entry.get("avg")) + ("*" if entry.get("avg_source") == "val-core" else "")
            cells += [avg, _fmt(entry.get("pass"))]
        lines.append("| " + " | ".join(cells) + " |")
    if not datasets:
        lines.append(f"\nNo validation metrics for k={k} were logged (aero_val/... or val-core/.../acc/mean@{k}).")
    lines += ["", *(curve or []), "## Rollouts, tokens, compute and wall-clock", ""]
    cost_header = ["arm", "train steps", "rollouts gen.", "rollouts trained", "resp. tokens gen."]
    cost_header += ["resp. tokens trained", "total FLOPs", "s/step (mean, excl. step 1)"]
    lines.append("| " + " | ".join(cost_header) + " |")
    lines.append("|" + "---|" * len(cost_header))
    for arm in arms:
        c = arm.cumulative
        cells = [arm.name, str(arm.num_train_steps)]
        cells += [_fmt_count(c.get(key)) for key in CUMULATIVE_KEYS]
        cells.append(f"{_fmt(arm.step_time_mean_s, '.2f')} (n={arm.step_time_num_steps})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Generation per step (mean, excl. step 1)", ""]
    lines.append("| arm | " + " | ".join(GENERATION_KEYS.values()) + " |")
    lines.append("|" + "---|" * (1 + len(GENERATION_KEYS)))
    for arm in arms:
        lines.append(
            "| " + " | ".join([arm.name, *(_fmt(arm.generation.get(key), ".2f") for key in GENERATION_KEYS)]) + " |"
        )
    lines += ["", f"## Reduction relative to the baseline `{baseline.name}` (positive = less)", ""]
    lines.append("| arm | total compute | wall-clock per step | generation per step | rollouts generated |")
    lines.append("|---|---|---|---|---|")
    if len(arms) == 1:
        lines.append(f"| (only `{baseline.name}` was given: nothing to compare) | {NA} | {NA} | {NA} | {NA} |")
    for arm in arms:
        if arm is baseline:
            continue
        flops = reduction_pct(arm.cumulative.get("total_flops"), baseline.cumulative.get("total_flops"))
        wall = reduction_pct(arm.step_time_mean_s, baseline.step_time_mean_s)
        gen = reduction_pct(arm.cumulative.get("gen_rollouts"), baseline.cumulative.get("gen_rollouts"))
        gen_time = reduction_pct(arm.generation.get("timing_s/gen"), baseline.generation.get("timing_s/gen"))
        lines.append(f"| {arm.name} | {_fmt_pct(flops)} | {_fmt_pct(wall)} | {_fmt_pct(gen_time)} | {_fmt_pct(gen)} |")
    lines += ["", "## Conventions", ""]
    lines.append(
        f"- Avg@{k}: mean accuracy per sample (over every sample a problem got, at least {k}: the validation's "
        f"`val_n` below); Pass@{k}: unbiased share of problems with at least one correct of {k} samples, "
        f"`1 - C(n-c, {k}) / C(n, {k})` (`aero_val/*`). `*` marks an Avg@{k} taken from verl's "
        f"`val-core/.../acc/mean@{k}` because the run did not log `aero_val`."
    )
    lines.append(
        "- All arms start from the same model, so their step-0 Avg (before RL, when logged) differ only by "
        "validation sampling noise: read differences between arms against that spread."
    )
    sampling = {arm.name: {k2: arm.config.get(k2) for k2 in ("val_n", "val_temperature", "val_top_p")} for arm in arms}
    lines.append(f"- Validation sampling read from each run's Hydra config (None = not recorded): {sampling}.")
    lines.append(
        "- Rollouts, tokens and FLOPs are the last logged `aero/cumulative/*` values; FLOPs are estimates "
        "(2 x params per token forward, 6 x forward+backward) of generation, log-prob recomputation and update."
    )
    lines.append(
        "- Wall-clock per step: mean of verl's `timing_s/step` over training steps 2..N (step 1 includes warm-up and "
        "is excluded); validation (`timing_s/testing`) is outside that timer. Generation is verl's `timing_s/gen`; "
        "the exploration phase runs from the first rollout's start to the last first-round rollout's end, the "
        "rescue tail from there to the last rollout's end (`aero/timing/*`)."
    )
    lines.append("- Logs: " + ", ".join(f"`{arm.name}`: {arm.log_file}" for arm in arms))
    return "\n".join(lines) + "\n"


def plot_all(histories: dict[str, History], arms: list[ArmSummary], k: int, out_dir: Path) -> list[Path]:
    """Writes the three PNGs (Agg backend); a panel whose metrics no run logged says so instead of failing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    fig, ax = plt.subplots(figsize=(6, 4))
    x_label = "cumulative total FLOPs (aero/cumulative/total_flops)"
    for arm in arms:
        history = histories[arm.name]
        flops = dict(series(history, "aero/cumulative/total_flops"))
        for ds in sorted({ds for step in validation_steps(history, k) for ds in validation_at(history[step], k)}):
            points = []
            for step in validation_steps(history, k):
                avg = validation_at(history[step], k).get(ds, {}).get("avg")
                x = 0.0 if step == 0 else flops.get(step)
                if avg is not None and x is not None:
                    points.append((x, avg))
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=f"{arm.name} {ds}")
    _finish(ax, x_label, f"held-out Avg@{k}", "Held-out accuracy vs cumulative training compute")
    written.append(_save(fig, out_dir / "accuracy_vs_compute.png", plt))

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in arms:
        points = [(s, v) for s, v in series(histories[arm.name], STEP_TIME_KEY) if s > 0]
        if points:
            ax.plot(*zip(*points, strict=True), marker=".", label=arm.name)
    _finish(ax, "training step", "wall-clock per step [s] (timing_s/step)", "Wall-clock per step")
    written.append(_save(fig, out_dir / "step_time.png", plt))

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in arms:
        for key, style in zip(ZERO_ADV_KEYS, ("--", "-"), strict=True):
            points = series(histories[arm.name], key)
            if points:
                ax.plot(*zip(*points, strict=True), style, marker=".", label=f"{arm.name} {key.rsplit('/', 1)[-1]}")
    _finish(ax, "training step", "share of zero-advantage prompts", "Zero-advantage share (before / after AERO)")
    written.append(_save(fig, out_dir / "zero_adv_share.png", plt))
    return written


def _finish(ax, x_label: str, y_label: str, title: str) -> None:
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    if ax.lines:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "n/a: no run logged these metrics", ha="center", va="center", transform=ax.transAxes)


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def build_report(runs: list[str | Path], out_dir: str | Path, k: int = 8, baseline: str | None = None) -> Path:
    """Reads every run, writes ``report.md``, ``summary.json`` and the plots into ``out_dir``; returns report.md."""
    from recipe.aero.ablations import render_ablations, summarize_ablations  # both build on this module
    from recipe.aero.seeds import arm_of, render_across_seeds, summarize_across_seeds

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    histories: dict[str, History] = {}
    arms = []
    for run in runs:
        log_file = find_log_file(run)
        run_dir = Path(run) if Path(run).is_dir() else log_file.parent
        name = (
            run_dir.resolve().name if Path(run).is_dir() else log_file.name.removesuffix(".gz").removesuffix(".jsonl")
        )
        if name in histories:
            raise ValueError(f"two runs are named {name!r}; arm names come from the run directory names")
        histories[name] = load_history(log_file)
        arms.append(summarize_arm(name, histories[name], k, str(log_file), read_run_config(run_dir)))
    chosen = pick_baseline(arms, baseline)
    report = out / "report.md"
    text = render_markdown(arms, chosen, k, render_validation_curve(histories, k))
    summary = {"k": k, "baseline": chosen.name, "arms": [asdict(arm) for arm in arms]}
    if len({arm_of(arm.name) for arm in arms}) < len(arms):  # some arm has several seeds
        across = summary["across_seeds"] = {}
        for dataset in sorted({ds for arm in arms for ds in arm.final_val}):
            target, rows = summarize_across_seeds(histories, arms, k, dataset, arm_of(chosen.name))
            text += "\n" + "\n".join(render_across_seeds(target, rows, k, dataset, arm_of(chosen.name))) + "\n"
            ablations = summarize_ablations(histories, arms, rows, k, dataset, arm_of(chosen.name))
            if ablations:
                text += "\n" + "\n".join(render_ablations(ablations, target, k, dataset, arm_of(chosen.name))) + "\n"
            across[dataset] = {
                "target": target,
                "arms": [asdict(row) for row in rows],
                "ablations": [asdict(row) for row in ablations],
            }
    report.write_text(text)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    plot_all(histories, arms, k, out)
    return report


def main(argv: list[str] | None = None) -> None:
    """CLI: builds the report and prints it."""
    parser = argparse.ArgumentParser(description="AERO vs GRPO table and plots from verl JSONL metric logs.")
    parser.add_argument("runs", nargs="+", help="run directories (or JSONL files), one per arm")
    parser.add_argument("--out", required=True, help="output directory for report.md, summary.json and PNGs")
    parser.add_argument("--k", type=int, default=8, help="samples per problem of the validation metrics")
    parser.add_argument("--baseline", default=None, help="arm to compare against (default: the GRPO arm)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = build_report(args.runs, args.out, k=args.k, baseline=args.baseline)
    print(report.read_text())
    print(f"written: {report.parent}")


if __name__ == "__main__":
    main()
