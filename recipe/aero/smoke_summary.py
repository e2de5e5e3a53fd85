"""One-screen summary of a GPU smoke run (``run_scripts/run_gpu_smoke.sh``): is this node ready for a real run?

Why: the first run on a new cluster should answer in one screen what would otherwise surface hours into a paper-scale
run: where a step's time goes, how close memory is to the limit, whether responses stop before the length cap (EOS),
whether the reward works (``reward_error``), and whether vLLM's log-probs agree with the trainer's (weight sync,
dtype, sampling settings). Every number is read from verl's JSONL metric log of each arm; a metric a run did not log
is shown as ``n/a``. Heuristic checks are listed under the table with the threshold they use.

Usage::

    python -m recipe.aero.smoke_summary RUN_DIR_OR_JSONL [...] [--clip-warn 0.9]

A run directory may also hold ``gpu_memory.csv`` (``nvidia-smi --query-gpu=memory.used,memory.total
--format=csv,noheader,nounits -l 1``, as the smoke script records it): its peak is the device memory of all
processes (vLLM's KV cache included), which verl's metrics do not cover.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from recipe.aero.report import History, find_log_file, load_history, numeric, series, training_steps

NA = "n/a"
GPU_MEMORY_FILE = "gpu_memory.csv"
# verl's timing_s/<phase> keys in step order; "testing" is one validation pass.
PHASES = (
    ("gen", "gen (rollout, AERO rescue incl.)"),
    ("old_log_prob", "old_log_prob"),
    ("ref", "ref log-prob"),
    ("adv", "advantages"),
    ("update_actor", "update_actor"),
    ("update_weights", "update_weights (sync to vLLM)"),
    ("save_checkpoint", "save_checkpoint"),
    ("step", "whole step"),
)
MEMORY_KEYS = {  # verl's V1 actor metrics, with the V0 names as fallbacks
    "gpu_allocated": ("actor/perf/max_memory_allocated_gb", "perf/max_memory_allocated_gb"),
    "gpu_reserved": ("actor/perf/max_memory_reserved_gb", "perf/max_memory_reserved_gb"),
    "host": ("actor/perf/cpu_memory_used_gb", "perf/cpu_memory_used_gb"),
}
_REWARD_ERROR = re.compile(r"^val-aux/(?P<ds>.+)/reward_error/mean@\d+$")


@dataclass
class ArmSmoke:
    """What one arm's log says, reduced to the summary's numbers (None = not logged).

    Attributes:
        name: the arm (directory name, or the file's stem).
        log_file: the JSONL that was read.
        steps: training steps logged.
        phase_first: seconds of each phase in the first training step (compilation and warm-up included).
        phase_rest: mean seconds of each phase over the later training steps.
        validation_s: mean seconds of one validation pass (``timing_s/testing``).
        memory_gb: peak over steps of the actor's GPU allocated / reserved and host memory.
        device_memory_mib: (peak used, total) from ``gpu_memory.csv``, all processes on the busiest GPU.
        response_mean: mean response length, last training step.
        clip_ratio: largest share of responses cut at ``data.max_response_length`` over the training steps.
        aborted_ratio: largest share of aborted responses over the training steps.
        reward_error: largest ``reward_error`` rate of any validation set and pass, by data source.
        probs_diff_mean: largest per-step mean |p_rollout - p_trainer| of sampled tokens.
        probs_diff_max: largest single-token |p_rollout - p_trainer|.
        probs_corr: smallest per-step Pearson correlation of rollout and trainer token probabilities.
    """

    name: str
    log_file: Path
    steps: list[int] = field(default_factory=list)
    phase_first: dict[str, float | None] = field(default_factory=dict)
    phase_rest: dict[str, float | None] = field(default_factory=dict)
    validation_s: float | None = None
    memory_gb: dict[str, float | None] = field(default_factory=dict)
    device_memory_mib: tuple[float, float] | None = None
    response_mean: float | None = None
    clip_ratio: float | None = None
    aborted_ratio: float | None = None
    reward_error: dict[str, float] = field(default_factory=dict)
    probs_diff_mean: float | None = None
    probs_diff_max: float | None = None
    probs_corr: float | None = None


def _training_values(history: History, key: str, steps: list[int]) -> list[float]:
    wanted = set(steps)
    return [value for step, value in series(history, key) if step in wanted]


def _peak(history: History, keys: tuple[str, ...], steps: list[int]) -> float | None:
    for key in keys:
        values = _training_values(history, key, steps)
        if values:
            return max(values)
    return None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def read_device_memory(path: Path) -> tuple[float, float] | None:
    """(peak used, total) MiB of the busiest GPU from ``nvidia-smi ... --format=csv,noheader,nounits`` lines.

    Raises:
        ValueError: naming the file and line of a line that is not two numbers.
    """
    peak: tuple[float, float] | None = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            used, total = (float(part) for part in line.split(","))
        except ValueError as error:
            raise ValueError(f"{path}:{number}: expected 'used, total' in MiB, got {line!r}") from error
        if peak is None or used > peak[0]:
            peak = (used, total)
    return peak


def summarize_arm(run: str | Path) -> ArmSmoke:
    """Reads one arm's JSONL (a file, or a run directory holding ``metrics.jsonl``) into an :class:`ArmSmoke`."""
    try:
        log_file = find_log_file(run)
    except FileNotFoundError:  # the arm died before verl's logger wrote a line: summarized as "no step logged"
        log_file = Path(run) / "metrics.jsonl"
    name = Path(run).name if Path(run).is_dir() else log_file.stem
    history = load_history(log_file) if log_file.is_file() else {}
    steps = training_steps(history)
    arm = ArmSmoke(name=name, log_file=log_file, steps=steps)
    for phase, _ in PHASES:
        points = [(step, value) for step, value in series(history, f"timing_s/{phase}") if step in set(steps)]
        arm.phase_first[phase] = points[0][1] if points and points[0][0] == steps[0] else None
        arm.phase_rest[phase] = _mean([value for step, value in points if step != steps[0]])
    arm.validation_s = _mean([value for _, value in series(history, "timing_s/testing")])
    arm.memory_gb = {kind: _peak(history, keys, steps) for kind, keys in MEMORY_KEYS.items()}
    device_file = log_file.parent / GPU_MEMORY_FILE
    arm.device_memory_mib = read_device_memory(device_file) if device_file.is_file() else None
    lengths = _training_values(history, "response_length/mean", steps)
    arm.response_mean = lengths[-1] if lengths else None
    arm.clip_ratio = _peak(history, ("response_length/clip_ratio",), steps)
    arm.aborted_ratio = _peak(history, ("response/aborted_ratio",), steps)
    for metrics in history.values():
        for key, value in metrics.items():
            match, rate = _REWARD_ERROR.match(key), numeric(value)
            if match and rate is not None:
                source = match["ds"]
                arm.reward_error[source] = max(rate, arm.reward_error.get(source, 0.0))
    arm.probs_diff_mean = _peak(history, ("training/rollout_probs_diff_mean",), steps)
    arm.probs_diff_max = _peak(history, ("training/rollout_probs_diff_max",), steps)
    corr = _training_values(history, "training/rollout_actor_probs_pearson_corr", steps)
    arm.probs_corr = min(corr) if corr else None
    return arm


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return NA if value is None or not math.isfinite(value) else format(value, spec)


def checks(arms: list[ArmSmoke], clip_warn: float) -> list[str]:
    """Heuristic findings, one line each, naming the arm, the metric and the threshold."""
    found = []
    for arm in arms:
        if not arm.steps:
            found.append(f"{arm.name}: no training step logged in {arm.log_file} (see the arm's log.txt)")
            continue
        if arm.clip_ratio is not None and arm.clip_ratio >= clip_warn:
            found.append(
                f"{arm.name}: response_length/clip_ratio reached {arm.clip_ratio:.2f} (>= {clip_warn}): responses run "
                "to data.max_response_length; if the model never stops, check its EOS ids against the chat template "
                "(python -m recipe.aero.eos_check MODEL_DIR)"
            )
        for source, rate in sorted(arm.reward_error.items()):
            if rate > 0:
                found.append(
                    f"{arm.name}: reward_error {rate:.3f} on {source} (validation): the verifier timed out or failed; "
                    "grep the log for 'math reward' and check that math_verify imports in the Ray workers"
                )
        if not arm.reward_error:
            found.append(f"{arm.name}: no reward_error metric logged (no validation pass, or another reward function)")
    return found


def render(arms: list[ArmSmoke], clip_warn: float = 0.9) -> str:
    """The summary as plain text: one column per arm, then the checks."""
    width = 38
    lines = ["AERO GPU smoke summary", *(f"  {arm.name}: {arm.log_file}" for arm in arms), ""]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"{label:<{width}}" + "".join(f"{cell:>20}" for cell in cells))

    row("", [arm.name for arm in arms])
    row("training steps logged", [str(len(arm.steps)) for arm in arms])
    lines.append("time per phase, s: first step / mean of the rest")
    for phase, label in PHASES:
        if any(arm.phase_first.get(phase) is not None for arm in arms):
            row(f"  {label}", [f"{_fmt(arm.phase_first[phase])} / {_fmt(arm.phase_rest[phase])}" for arm in arms])
    row("  validation pass (mean)", [_fmt(arm.validation_s) for arm in arms])
    lines.append("peak memory (max over steps)")
    row(
        "  actor GPU allocated / reserved, GB",
        [
            f"{_fmt(arm.memory_gb['gpu_allocated'], '.1f')} / {_fmt(arm.memory_gb['gpu_reserved'], '.1f')}"
            for arm in arms
        ],
    )
    row("  actor host memory, GB", [_fmt(arm.memory_gb["host"], ".1f") for arm in arms])
    row(
        "  device, all processes, GiB (smi)",
        [
            NA
            if arm.device_memory_mib is None
            else f"{arm.device_memory_mib[0] / 1024:.1f} of {arm.device_memory_mib[1] / 1024:.1f}"
            for arm in arms
        ],
    )
    lines.append("responses")
    row("  mean length, tokens (last step)", [_fmt(arm.response_mean, ".0f") for arm in arms])
    row("  clip ratio at max length (max)", [_fmt(arm.clip_ratio, ".3f") for arm in arms])
    row("  aborted ratio (max)", [_fmt(arm.aborted_ratio, ".3f") for arm in arms])
    row(
        "reward_error rate, validation (max)",
        [_fmt(max(arm.reward_error.values()), ".3f") if arm.reward_error else NA for arm in arms],
    )
    lines.append("rollout vs trainer token probs (ideal: 0 / 0 / 1)")
    row("  |diff| mean (max over steps)", [_fmt(arm.probs_diff_mean, ".4f") for arm in arms])
    row("  |diff| largest token", [_fmt(arm.probs_diff_max, ".3f") for arm in arms])
    row("  Pearson correlation (min)", [_fmt(arm.probs_corr, ".4f") for arm in arms])
    found = checks(arms, clip_warn)
    lines.append("")
    lines.extend(["checks:", *(f"  - {line}" for line in found)] if found else ["checks: none triggered"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Prints the summary; exit 1 when a check triggered, so a script can stop before a long run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directory (with metrics.jsonl) or JSONL file, one per arm")
    parser.add_argument("--clip-warn", type=float, default=0.9, help="clip ratio at which to flag runaway responses")
    args = parser.parse_args(argv)
    arms = [summarize_arm(run) for run in args.runs]
    print(render(arms, args.clip_warn))
    return 1 if checks(arms, args.clip_warn) else 0


if __name__ == "__main__":
    sys.exit(main())
