"""One-screen summary of a GPU smoke run (``run_scripts/run_gpu_smoke.sh``): is this node ready for a real run?

Why: the first run on a new cluster should answer in one screen what would otherwise surface hours into a paper-scale
run: where a step's time goes, how close memory is to the limit, whether responses stop before the length cap (EOS),
whether the reward works (``reward_error``), whether vLLM's probabilities agree with the trainer's (weight sync,
dtype, sampling settings), and whether AERO itself did what it should (rollouts per prompt within
``[n_explore, budget]``, rescue, the rescue race), and, for an arm that failed or hit its time limit, the phase it was
in. Every number is read from what the run wrote: verl's JSONL metric log, the arm's console log (``log.txt``), its
Hydra config (``.hydra/config.yaml``), verl's rollout dump (``trainer.rollout_data_dir``) and the smoke script's
``arm_status.json``. A metric a run did not log is shown as ``n/a``. Every check is listed under the table with the
threshold it uses; any check that triggers makes the exit status 1.

Usage::

    python -m recipe.aero.smoke_summary RUN_DIR_OR_JSONL [...] [--eos-check] [--clip-warn 0.9]
        [--probs-diff-warn 0.05] [--probs-corr-warn 0.9] [--samples 4]
    python -m recipe.aero.smoke_summary --eos-only RUN_DIR [...]

``--eos-only`` is what the smoke script runs as soon as its first launch ends: the model's files are local by then,
so a model that would never stop stops the smoke run before the other launches spend their time at the length cap.

A run directory may also hold ``gpu_memory.csv`` (``nvidia-smi --query-gpu=memory.used,memory.total
--format=csv,noheader,nounits -l 1``, as the smoke script records it): its peak is the device memory of all
processes (vLLM's KV cache included), which verl's metrics do not cover. A run directory with a ``resumed/``
sub-directory (the smoke script's node mode: a second launch that resumed from the first one's checkpoint) gets a
second column for the resumed launch and the resume checks.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from recipe.aero.report import History, load_history, numeric, series, training_steps

NA = "n/a"
GPU_MEMORY_FILE = "gpu_memory.csv"
STATUS_FILE = "arm_status.json"  # {"exit_code", "timeout_s", "wall_s"}, written by run_gpu_smoke.sh per launch
LOG_FILES = ("log.txt", "log.txt.gz")
METRICS_FILES = (
    "metrics.jsonl",
    "metrics.jsonl.gz",
)  # verl's file logger (VERL_FILE_LOGGER_PATH), as the script names it
RESUMED_DIR = "resumed"
SAMPLES_FILE = "samples.txt"
TIMEOUT_EXIT_CODES = (124, 137)  # GNU timeout: the command got SIGTERM (124) or, after --kill-after, SIGKILL (137)
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
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RAY_PREFIX = re.compile(r"^(\([^)]*\)\s*)+")
# What verl 0.9.1 (and the recipe) print between phases, each with the phase that runs after it, read from a real
# CPU run's console log (tests/launchers/fixtures/smoke_cpu). A hang shows as the phase after the last marker seen.
# verl prints nothing while a step runs, so "training step N" covers generation (AERO's rescue included), log-probs,
# the update and the weight sync into vLLM, then the checkpoint save and validation when due.
_LOG_PHASES = (
    (re.compile(r"ray init kwargs:"), "Ray start and worker creation"),
    (re.compile(r"create worker group"), "actor / reference model load (FSDP or Megatron initialisation)"),
    (re.compile(r"actor and ref model engine initialized"), "reward workers and vLLM server start"),
    (re.compile(r"LLMServerManager:"), "weight-sync (checkpoint engine) set-up"),
    (re.compile(r"checkpoint engine manager initialized"), "checkpoint lookup / load"),
    (re.compile(r"all initialize finished, ready to fit"), "first weight sync into vLLM, validation before step 1"),
    (re.compile(r"Saving checkpoint to .*global_step_(?P<step>\d+)"), "checkpoint save at step {step}"),
    (re.compile(r"\bstep:(?P<step>\d+) - "), "training step {next} (or shutdown after the last step)"),
    (re.compile(r"Final validation metrics"), "shutdown after the last step"),
)


@dataclass
class RunConfig:
    """What the checks need from the arm's ``.hydra/config.yaml`` (Hydra writes it before the trainer starts).

    Attributes:
        adaptive: AERO's adaptive rollouts (explore, rescue up to the budget); False for GRPO and the fixed ablation.
        group_range: (fewest, most) rollouts a prompt may get: ``[n_explore, budget]`` (the guided exploration's
            ``n_explore_known_solved`` lowers the first), or ``[n, n]`` with fixed groups.
        rescue_exact: every prompt with no success after exploration must be rescued (``rescue_threshold`` 0, no
            guided exploration, ``budget > n_explore``).
        rescue_race: ``algorithm.aero.rescue_race`` with adaptive rollouts.
        train_batch_size: prompts per step (``data.train_batch_size``).
        model_path / tokenizer_path / chat_template: what the EOS check reads.
        rollout_data_dir: ``trainer.rollout_data_dir`` (verl dumps each step's rollouts there), or None.
        checkpoint_dir: ``trainer.default_local_dir``.
    """

    adaptive: bool = False
    group_range: tuple[int, int] | None = None
    rescue_exact: bool = False
    rescue_race: bool = False
    train_batch_size: int | None = None
    model_path: str | None = None
    tokenizer_path: str | None = None
    chat_template: str | None = None
    rollout_data_dir: str | None = None
    checkpoint_dir: str | None = None


@dataclass
class LogPhase:
    """Where the console log stops: the phase after the last marker seen, that marker's line and the last line."""

    phase: str
    marker: str | None
    last_line: str | None


@dataclass
class ArmSmoke:
    """What one arm's files say, reduced to the summary's numbers (None = not logged).

    Attributes:
        name: the arm (directory name, or the file's stem; ``<arm>/resumed`` for a resumed launch).
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
        config: from ``.hydra/config.yaml``; None when the run directory has none.
        history: the metric log, by step.
        status: ``arm_status.json`` of the launch (exit code, time limit, wall time); None when absent.
        log_phase: where ``log.txt`` stops; None without a console log.
        samples_file: the sample responses written from verl's rollout dump; None without a dump.
        eos: ``(verdict, description)`` of the EOS check of the arm's model (``--eos-check``); verdict None when
            undecided.
        resumed_from: for a resumed launch, the arm whose checkpoint it resumed.
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
    config: RunConfig | None = None
    history: History = field(default_factory=dict)
    status: dict | None = None
    log_phase: LogPhase | None = None
    samples_file: Path | None = None
    eos: tuple[bool | None, str] | None = None
    resumed_from: ArmSmoke | None = None

    @property
    def run_dir(self) -> Path:
        return self.log_file.parent

    def step_sum(self, key: str) -> float | None:
        """Sum of ``key`` over the training steps; None when no step logged it."""
        values = _training_values(self.history, key, self.steps)
        return sum(values) if values else None


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


def read_run_config(run_dir: Path) -> RunConfig | None:
    """The settings the checks need, from ``run_dir/.hydra/config.yaml``; None when there is none.

    The file holds the composed config before the recipe derives ``rollout.n = budget``, so group sizes are taken
    from ``algorithm.aero`` for adaptive rollouts and from ``rollout.n`` otherwise.
    """
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    from omegaconf import OmegaConf

    from recipe.aero.core.config import AeroConfig
    from recipe.aero.preflight_node import adaptive_rollout

    cfg = OmegaConf.load(path)

    def get(key: str):
        return OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)

    config = RunConfig(
        adaptive=adaptive_rollout(cfg),
        train_batch_size=get("data.train_batch_size"),
        model_path=get("actor_rollout_ref.model.path"),
        tokenizer_path=get("actor_rollout_ref.model.tokenizer_path"),
        chat_template=get("actor_rollout_ref.model.custom_chat_template"),
        rollout_data_dir=get("trainer.rollout_data_dir"),
        checkpoint_dir=get("trainer.default_local_dir"),
    )
    if config.adaptive:
        aero = AeroConfig.from_mapping(get("algorithm.aero"))
        fewest = min(aero.n_explore, aero.n_explore_known_solved) if aero.guided_exploration else aero.n_explore
        config.group_range = (fewest, aero.budget)
        config.rescue_exact = (
            aero.rescue_threshold == 0 and not aero.guided_exploration and aero.budget > aero.n_explore
        )
        config.rescue_race = bool(aero.rescue_race)
    elif isinstance(get("actor_rollout_ref.rollout.n"), int):
        config.group_range = (get("actor_rollout_ref.rollout.n"),) * 2
    return config


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode(errors="replace")


def _clean(line: str) -> str:
    return _RAY_PREFIX.sub("", _ANSI.sub("", line)).strip()


def read_log_phase(path: Path) -> LogPhase:
    """The phase the console log ``path`` (``log.txt`` or ``.gz``) was in when it ended (:data:`_LOG_PHASES`)."""
    phase, marker, last_line = "start-up before Ray (config, preflight)", None, None
    for raw in _read_text(path).splitlines():
        line = _clean(raw)
        if not line:
            continue
        last_line = line
        for pattern, label in _LOG_PHASES:
            match = pattern.search(line)
            if match:
                step = match.groupdict().get("step")
                phase = label.format(step=step, next=int(step) + 1 if step is not None else "?")
                marker = line
                break
    return LogPhase(phase=phase, marker=marker, last_line=last_line)


def _short(text: str | None, chars: int = 160) -> str:
    if text is None:
        return ""
    return text if len(text) <= chars else text[: chars - 3] + "..."


def write_samples(run_dir: Path, dump_dir: Path, count: int) -> Path | None:
    """Writes ``count`` of the last dumped step's rollouts (one per prompt) to ``run_dir/samples.txt``.

    verl's ``trainer.rollout_data_dir`` holds ``<step>.jsonl`` with ``input``, ``output``, ``gts``, ``score`` and
    ``uid`` (``<prompt uid>_<rollout>_<turn>``) per rollout. Returns the file, or None when nothing was dumped.
    """
    dumps = sorted(dump_dir.glob("*.jsonl"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
    if not dumps:
        return None
    rows = [json.loads(line) for line in dumps[-1].read_text().splitlines() if line.strip()]
    chosen, prompts = [], set()
    for row in rows:
        prompt = str(row.get("uid", "")).rsplit("_", 2)[0]
        if prompt not in prompts:
            prompts.add(prompt)
            chosen.append(row)
        if len(chosen) == count:
            break
    parts = [f"{len(chosen)} sample responses of {dumps[-1]} (one per prompt; all {len(rows)} are in that file)"]
    for row in chosen:
        output = str(row.get("output", ""))
        if len(output) > 3000:
            output = output[:2000] + f"\n[... {len(output) - 2700} characters ...]\n" + output[-700:]
        parts.append(
            f"--- step {row.get('step')}, uid {row.get('uid')}, score {row.get('score')}, gold {row.get('gts')!r}\n"
            f"PROMPT (end): ...{str(row.get('input', ''))[-400:]}\nRESPONSE ({len(str(row.get('output', '')))} "
            f"characters):\n{output}"
        )
    path = run_dir / SAMPLES_FILE
    path.write_text("\n\n".join(parts) + "\n")
    return path


def _metrics_file(run: Path) -> Path:
    """The metric log of ``run``: the file itself, or the run directory's ``metrics.jsonl`` (``.gz``).

    Why not :func:`recipe.aero.report.find_log_file`'s fallback to the one ``*.jsonl`` under the directory: an arm that
    died before verl's logger wrote a line still has its rollout dump (``rollouts/<step>.jsonl``), which is no metric
    log. Without ``metrics.jsonl`` the arm is summarized as "no training step logged".
    """
    if run.is_file():
        return run
    for name in METRICS_FILES:
        if (run / name).is_file():
            return run / name
    return run / METRICS_FILES[0]


def summarize_arm(run: str | Path, samples: int = 4, name: str | None = None) -> ArmSmoke:
    """Reads one arm's files (a JSONL file, or a run directory holding ``metrics.jsonl``) into an :class:`ArmSmoke`.

    ``samples`` > 0 writes that many sample responses from verl's rollout dump to ``run_dir/samples.txt``.
    """
    log_file = _metrics_file(Path(run))
    run_dir = log_file.parent
    name = name or (Path(run).name if Path(run).is_dir() else log_file.stem)
    history = load_history(log_file) if log_file.is_file() else {}
    steps = training_steps(history)
    arm = ArmSmoke(name=name, log_file=log_file, steps=steps, history=history)
    for phase, _ in PHASES:
        points = [(step, value) for step, value in series(history, f"timing_s/{phase}") if step in set(steps)]
        arm.phase_first[phase] = points[0][1] if points and points[0][0] == steps[0] else None
        arm.phase_rest[phase] = _mean([value for step, value in points if step != steps[0]])
    arm.validation_s = _mean([value for _, value in series(history, "timing_s/testing")])
    arm.memory_gb = {kind: _peak(history, keys, steps) for kind, keys in MEMORY_KEYS.items()}
    device_file = run_dir / GPU_MEMORY_FILE
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
    arm.config = read_run_config(run_dir)
    if (run_dir / STATUS_FILE).is_file():
        arm.status = json.loads((run_dir / STATUS_FILE).read_text())
    for log_name in LOG_FILES:
        if (run_dir / log_name).is_file():
            arm.log_phase = read_log_phase(run_dir / log_name)
            break
    if samples > 0 and arm.config is not None and arm.config.rollout_data_dir:
        arm.samples_file = write_samples(run_dir, Path(arm.config.rollout_data_dir), samples)
    return arm


def summarize_runs(runs: list[str | Path], samples: int = 4) -> list[ArmSmoke]:
    """One :class:`ArmSmoke` per run, each followed by its resumed launch when ``RUN_DIR/resumed`` exists."""
    arms = []
    for run in runs:
        arm = summarize_arm(run, samples)
        arms.append(arm)
        resumed_dir = Path(run) / RESUMED_DIR
        if Path(run).is_dir() and resumed_dir.is_dir():
            resumed = summarize_arm(resumed_dir, samples, name=f"{arm.name}/{RESUMED_DIR}")
            resumed.resumed_from = arm
            arms.append(resumed)
    return arms


def check_eos(arms: list[ArmSmoke]) -> None:
    """Runs :func:`recipe.aero.eos_check.check_model_eos` on each arm's model, now that the arm has downloaded it.

    The preflight can only warn when a hub id is not in the cache yet; after the first arm ran, its files are local
    (or something is wrong with where they went), so here an undecided check counts as a failure too.
    """
    from recipe.aero.eos_check import check_model_eos, describe, local_model_dir

    done: dict[tuple, tuple[bool | None, str]] = {}
    for arm in arms:
        if arm.config is None or not arm.config.model_path:
            arm.eos = (None, "no model path: the run directory has no .hydra/config.yaml")
            continue
        key = (arm.config.model_path, arm.config.tokenizer_path, arm.config.chat_template)
        if key not in done:
            model_dir = local_model_dir(arm.config.model_path)
            tokenizer_dir = local_model_dir(arm.config.tokenizer_path) if arm.config.tokenizer_path else None
            if model_dir is None:
                done[key] = (None, f"{arm.config.model_path}: no local files (not a directory, not in the HF cache)")
            else:
                report = check_model_eos(model_dir, arm.config.chat_template, tokenizer_dir)
                verdict = report.stops_at_turn_end
                done[key] = (verdict, describe(report) if verdict is not None else report.problem or "")
        arm.eos = done[key]


def render_eos(arms: list[ArmSmoke]) -> str:
    """One line per arm with its EOS verdict (``--eos-only``: the check the script runs after the first launch)."""
    return "\n".join(f"EOS {arm.name}: {_eos_cell(arm)}: {arm.eos[1] if arm.eos else NA}" for arm in arms)


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return NA if value is None or not math.isfinite(value) else format(value, spec)


_GROUP_KEYS = ("aero/group_size/generated_mean", "aero/group_size/generated_max")


def _group_sizes(arm: ArmSmoke) -> list[tuple[int, float, float, float, float]]:
    """Per training step: (step, prompts, rollouts per prompt from aero/gen/rollouts, generated_mean, _max)."""
    rows = []
    for step in arm.steps:
        metrics = arm.history.get(step, {})
        prompts = sum(numeric(v) or 0.0 for k, v in metrics.items() if k.startswith("aero/strata/prompts_"))
        values = [numeric(metrics.get(k)) for k in ("aero/gen/rollouts", *_GROUP_KEYS)]
        if prompts > 0 and None not in values:
            rollouts, mean, most = values
            rows.append((step, prompts, rollouts / prompts, mean, most))
    return rows


def _check_groups(arm: ArmSmoke, found: list[str]) -> None:
    """Rollouts per prompt within the configured range, two ways (group sizes, and rollouts / prompts)."""
    if arm.config is None or arm.config.group_range is None:
        found.append(f"{arm.name}: rollouts per prompt not checked: no .hydra/config.yaml in {arm.run_dir}")
        return
    fewest, most = arm.config.group_range
    rows = _group_sizes(arm)
    if not rows:
        found.append(f"{arm.name}: no aero/gen/rollouts, aero/group_size/* and aero/strata/prompts_* logged")
        return
    for step, prompts, per_prompt, mean, largest in rows:
        problems = []
        if not fewest - 1e-9 <= mean <= most + 1e-9 or largest > most:
            problems.append(f"aero/group_size/generated_mean {mean:.2f}, _max {largest:.0f}")
        if not fewest - 1e-9 <= per_prompt <= most + 1e-9 or abs(per_prompt - mean) > 1e-6:
            problems.append(f"aero/gen/rollouts / prompts = {per_prompt:.2f}")
        if arm.config.train_batch_size is not None:
            failed = numeric(arm.history[step].get("aero/failed/prompts")) or 0.0
            if prompts + failed != arm.config.train_batch_size:
                problems.append(f"{prompts:.0f} prompts (+{failed:.0f} failed), not data.train_batch_size")
        if problems:
            found.append(
                f"{arm.name}: step {step}: {'; '.join(problems)}: outside rollouts per prompt [{fewest}, {most}] "
                f"(data.train_batch_size {arm.config.train_batch_size}); the sampler's groups are not what the "
                "config asks for"
            )


def _check_rescue(arm: ArmSmoke, found: list[str]) -> None:
    """Every prompt with no success after exploration is rescued (rescue_threshold 0, budget > n_explore)."""
    if arm.config is None or not arm.config.adaptive:
        return
    for step in arm.steps:
        metrics = arm.history[step]
        attempted = numeric(metrics.get("aero/rescue/attempted_prompts"))
        succeeded = numeric(metrics.get("aero/rescue/succeeded_prompts"))
        share = numeric(metrics.get("aero/nonzero_acc_share/before_rescue"))
        prompts = sum(numeric(v) or 0.0 for k, v in metrics.items() if k.startswith("aero/strata/prompts_"))
        if attempted is None or succeeded is None or share is None:
            found.append(f"{arm.name}: step {step}: no aero/rescue/* or aero/nonzero_acc_share/before_rescue logged")
            continue
        unsolved = round((1.0 - share) * prompts)
        if succeeded > attempted:
            found.append(f"{arm.name}: step {step}: rescue succeeded {succeeded:.0f} > attempted {attempted:.0f}")
        if arm.config.rescue_exact and attempted != unsolved:
            found.append(
                f"{arm.name}: step {step}: {unsolved} prompts had no success after exploration but rescue was "
                f"attempted for {attempted:.0f} (rescue_threshold 0: each of them must be rescued)"
            )


def _check_race(arm: ArmSmoke, found: list[str]) -> None:
    """The rescue race's aborts: logged when it is on, none when it is off, none that failed to land."""
    if arm.config is None or not arm.config.adaptive:
        return
    aborted = arm.step_sum("aero/race/aborted_rollouts")
    failed = arm.step_sum("aero/race/abort_failed")
    if arm.config.rescue_race and aborted is None:
        found.append(f"{arm.name}: rescue_race is on but no aero/race/aborted_rollouts logged")
    if not arm.config.rescue_race and aborted:
        found.append(f"{arm.name}: {aborted:.0f} rollouts aborted (aero/race/aborted_rollouts) with rescue_race off")
    if failed:
        found.append(
            f"{arm.name}: aero/race/abort_failed {failed:.0f}: race siblings whose abort never reached vLLM ran to "
            "their end (see the sampler's warning in log.txt)"
        )


def _check_failed_prompts(arm: ArmSmoke, found: list[str]) -> None:
    for key in ("aero/failed/prompts", "aero/failed/nonfinite_scores"):
        total = arm.step_sum(key)
        if total:
            found.append(f"{arm.name}: {key} {total:.0f} over the run: grep log.txt for the failure causes")


def _check_probs(arm: ArmSmoke, diff_warn: float, corr_warn: float, found: list[str]) -> None:
    valid = _training_values(arm.history, "training/rollout_probs_diff_valid", arm.steps)
    if arm.probs_diff_mean is None or not valid or min(valid) < 1:
        found.append(
            f"{arm.name}: no valid training/rollout_probs_diff_mean: rollout log-probs missing, so the weight "
            "sync into vLLM is unchecked"
        )
        return
    if arm.probs_diff_mean > diff_warn:
        found.append(
            f"{arm.name}: training/rollout_probs_diff_mean reached {arm.probs_diff_mean:.4f} (> {diff_warn}): vLLM's "
            "token probabilities differ from the trainer's; check the weight sync (TP resharding), dtype, and that "
            "rollout.temperature / top_p match what the trainer assumes"
        )
    if arm.probs_corr is not None and arm.probs_corr < corr_warn:
        found.append(
            f"{arm.name}: training/rollout_actor_probs_pearson_corr fell to {arm.probs_corr:.3f} (< {corr_warn}): "
            "vLLM samples from other weights than the trainer's (a sync that never happened leaves vLLM on its "
            "dummy start-up weights)"
        )


def _check_resume(arm: ArmSmoke, found: list[str]) -> None:
    """A resumed launch continues the first one: its checkpoint, its next step, AERO's restored counters."""
    first = arm.resumed_from
    if first is None:
        return
    if not first.steps:
        found.append(f"{arm.name}: nothing to resume: {first.name} logged no training step")
        return
    checkpoints = Path(first.config.checkpoint_dir) if first.config and first.config.checkpoint_dir else None
    checkpoints = checkpoints or first.run_dir / "checkpoints"
    marker = checkpoints / "latest_checkpointed_iteration.txt"
    saved = marker.read_text().strip() if marker.is_file() else None
    if saved != str(first.steps[-1]):
        found.append(f"{arm.name}: {marker} says {saved!r}, not the first launch's last step {first.steps[-1]}")
        return
    state = checkpoints / f"global_step_{saved}" / "aero_state.json"
    if not state.is_file():
        found.append(f"{arm.name}: no {state}: the checkpoint lacks AERO's posterior and counters")
    if not arm.steps or arm.steps[0] != first.steps[-1] + 1:
        found.append(
            f"{arm.name}: first training step {arm.steps[0] if arm.steps else None}, not {first.steps[-1] + 1}: "
            f"the launch did not resume from {checkpoints}"
        )
        return
    before = numeric(first.history[first.steps[-1]].get("aero/cumulative/gen_rollouts"))
    now = numeric(arm.history[arm.steps[0]].get("aero/cumulative/gen_rollouts"))
    this_step = numeric(arm.history[arm.steps[0]].get("aero/gen/rollouts"))
    if None in (before, now, this_step) or now != before + this_step:
        found.append(
            f"{arm.name}: aero/cumulative/gen_rollouts {now} at step {arm.steps[0]}, expected {before} (step "
            f"{first.steps[-1]}) + {this_step}: AERO's counters were not restored from the checkpoint"
        )


def checks(
    arms: list[ArmSmoke], clip_warn: float = 0.9, probs_diff_warn: float = 0.05, probs_corr_warn: float = 0.9
) -> list[str]:
    """Findings, one line each, naming the arm, the metric or file, and the threshold."""
    found = []
    for arm in arms:
        exit_code = (arm.status or {}).get("exit_code")
        if exit_code:
            timed_out = exit_code in TIMEOUT_EXIT_CODES
            limit = arm.status.get("timeout_s")
            what = f"TIMED OUT after {limit} s (ARM_TIMEOUT_S)" if timed_out else f"exit {exit_code}"
            phase = arm.log_phase
            where = (
                f"; {'hung' if timed_out else 'stopped'} in: {phase.phase} (last phase line: "
                f"{_short(phase.marker, 100)!r}; last line: {_short(phase.last_line, 120)!r})"
                if phase is not None
                else f"; no console log in {arm.run_dir}"
            )
            found.append(f"{arm.name}: {what}{where}")
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
        _check_probs(arm, probs_diff_warn, probs_corr_warn, found)
        _check_groups(arm, found)
        _check_rescue(arm, found)
        _check_race(arm, found)
        _check_failed_prompts(arm, found)
        _check_resume(arm, found)
        if arm.config is not None and arm.config.rollout_data_dir and arm.samples_file is None:
            found.append(f"{arm.name}: no rollout dump in trainer.rollout_data_dir={arm.config.rollout_data_dir}")
        if arm.eos is not None and arm.eos[0] is not True:
            verdict = "WOULD NOT STOP at the end of its turn" if arm.eos[0] is False else "EOS check undecided"
            found.append(f"{arm.name}: {verdict}: {arm.eos[1]} (python -m recipe.aero.eos_check MODEL)")
    return found


def _cells_groups(arm: ArmSmoke) -> str:
    rows = _group_sizes(arm)
    if not rows:
        return NA
    span = "" if arm.config is None or arm.config.group_range is None else " in {}-{}".format(*arm.config.group_range)
    return f"{max(r[3] for r in rows):.2f}/{max(r[4] for r in rows):.0f}{span}"


def _cells_rescue(arm: ArmSmoke) -> str:
    attempted, succeeded = arm.step_sum("aero/rescue/attempted_prompts"), arm.step_sum("aero/rescue/succeeded_prompts")
    return NA if attempted is None else f"{attempted:.0f} / {_fmt(succeeded, '.0f')}"


def _cells_race(arm: ArmSmoke) -> str:
    if arm.config is None or not arm.config.rescue_race:
        return "off"
    aborted, failed = arm.step_sum("aero/race/aborted_rollouts"), arm.step_sum("aero/race/abort_failed")
    return f"{_fmt(aborted, '.0f')} / {_fmt(failed, '.0f')}"


def render(
    arms: list[ArmSmoke], clip_warn: float = 0.9, probs_diff_warn: float = 0.05, probs_corr_warn: float = 0.9
) -> str:
    """The summary as plain text: one column per arm, then file paths, then the checks."""
    width = 38
    lines = ["AERO GPU smoke summary", *(f"  {arm.name}: {arm.log_file}" for arm in arms), ""]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"{label:<{width}}" + "".join(f"{cell:>20}" for cell in cells))

    row("", [arm.name for arm in arms])
    row("training steps logged", [_steps_cell(arm) for arm in arms])
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
    row(f"  |diff| mean (max over steps; <= {probs_diff_warn})", [_fmt(arm.probs_diff_mean, ".4f") for arm in arms])
    row("  |diff| largest token (not checked)", [_fmt(arm.probs_diff_max, ".3f") for arm in arms])
    row(f"  Pearson correlation (min; >= {probs_corr_warn})", [_fmt(arm.probs_corr, ".4f") for arm in arms])
    lines.append("AERO")
    row("  rollouts/prompt mean/max (range)", [_cells_groups(arm) for arm in arms])
    row("  rescue: prompts attempted / succeeded", [_cells_rescue(arm) for arm in arms])
    row("  race: aborted / abort failed", [_cells_race(arm) for arm in arms])
    if any(arm.eos is not None for arm in arms):
        row("EOS ends the assistant turn", [_eos_cell(arm) for arm in arms])
    for arm in arms:
        if arm.samples_file is not None:
            lines.append(f"samples {arm.name}: {arm.samples_file}")
    found = checks(arms, clip_warn, probs_diff_warn, probs_corr_warn)
    lines.append("")
    lines.extend(["checks:", *(f"  - {line}" for line in found)] if found else ["checks: none triggered"])
    return "\n".join(lines)


def _steps_cell(arm: ArmSmoke) -> str:
    if arm.resumed_from is not None and arm.steps:
        return f"{len(arm.steps)} (from step {arm.steps[0]})"
    return str(len(arm.steps))


def _eos_cell(arm: ArmSmoke) -> str:
    if arm.eos is None:
        return NA
    return {True: "yes", False: "NO"}.get(arm.eos[0], "undecided")


def main(argv: list[str] | None = None) -> int:
    """Prints the summary; exit 1 when a check triggered, so a script can stop before a long run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directory (with metrics.jsonl) or JSONL file, one per arm")
    parser.add_argument("--clip-warn", type=float, default=0.9, help="clip ratio at which to flag runaway responses")
    parser.add_argument(
        "--probs-diff-warn", type=float, default=0.05, help="largest per-step mean |p_rollout - p_trainer| allowed"
    )
    parser.add_argument(
        "--probs-corr-warn", type=float, default=0.9, help="smallest rollout/trainer probability correlation allowed"
    )
    parser.add_argument("--samples", type=int, default=4, help="sample responses written per arm (0: none)")
    parser.add_argument(
        "--eos-check", action="store_true", help="check the EOS ids of each arm's model (its files must be local)"
    )
    parser.add_argument(
        "--eos-only",
        action="store_true",
        help="only the EOS check, one line per arm; exit 1 unless every model stops at the end of its turn",
    )
    args = parser.parse_args(argv)
    if args.eos_only:
        arms = summarize_runs(args.runs, samples=0)
        check_eos(arms)
        print(render_eos(arms))
        return 0 if all(arm.eos[0] is True for arm in arms) else 1
    arms = summarize_runs(args.runs, args.samples)
    if args.eos_check:
        check_eos(arms)
    thresholds = (args.clip_warn, args.probs_diff_warn, args.probs_corr_warn)
    print(render(arms, *thresholds))
    return 1 if checks(arms, *thresholds) else 0


if __name__ == "__main__":
    sys.exit(main())
