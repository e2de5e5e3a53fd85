"""Launch a verl entry point (stock ``verl.trainer.main_ppo`` or a recipe main) on CPU and read its metrics.

``run_verl_cpu`` runs ``python -m <module> <overrides>`` in a subprocess (its own process group, so a
timeout can stop the driver and the Ray processes it started), with the environment the CPU platform
needs, verl's file logger writing JSONL into the run directory, and returns the per-step metrics parsed from
that file by the recipe's reader (:func:`recipe.aero.report.load_history`, the one JSONL parser). Overrides
come from :mod:`aero_cpu.overrides` first, then ``trainer.default_local_dir``, then the caller's, so the
caller's win.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aero_cpu.overrides import cpu_overrides, runtime_env_overrides
from recipe.aero.report import History, load_history

METRICS_FILE = "metrics.jsonl"
LOG_FILE = "log.txt"
CHECKPOINT_DIR = "checkpoints"
FILE_LOGGER_ENV = "VERL_FILE_LOGGER_PATH"  # read by verl's file logger in the trainer's process (verl.utils.tracking)
_ALWAYS_SET_ENV = ("VERL_PLATFORM",)


@dataclass
class RunResult:
    """Outcome of one trainer run.

    Attributes:
        returncode: the driver's exit status (negative: killed by that signal).
        timed_out: whether the run was stopped for exceeding its timeout.
        wall_s: wall-clock seconds of the whole run (Ray start-up included).
        command: the argv that was run.
        run_dir: directory with ``log.txt``, ``metrics.jsonl`` and ``checkpoints/``.
        history: verl's file-logger metrics per step, ``{step: {metric: value}}`` (lines of one step merged).
    """

    returncode: int
    timed_out: bool
    wall_s: float
    command: list[str]
    run_dir: Path
    history: History = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.run_dir / LOG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / METRICS_FILE

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR

    def steps(self) -> dict[int, dict]:
        """Metrics per step in step order (training and validation lines of the same step together)."""
        return dict(sorted(self.history.items()))

    def series(self, name: str) -> dict[int, float]:
        """``{step: value}`` for one metric, over the steps that logged it."""
        return {step: data[name] for step, data in self.steps().items() if name in data}

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the combined stdout/stderr, for assertion messages."""
        if not self.log_path.exists():
            return "<no log>"
        return self.log_path.read_text(errors="replace")[-chars:]


def read_run_history(path: str | Path) -> History:
    """The run's metrics per step, or ``{}`` when verl never created the file (the driver failed before logging)."""
    path = Path(path)
    return load_history(path) if path.exists() else {}


def cpu_env(extra_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The driver environment: the current one plus the CPU platform, offline switches and Ray's usage stats off."""
    env = dict(os.environ)
    env.update(
        {
            "VERL_PLATFORM": "cpu",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "RAY_DEDUP_LOGS": "0",
            # No usage-stats reports to Ray's servers: read by the driver's ray.init, which starts the local cluster.
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: str(v) for k, v in (extra_env or {}).items()})
    return env


def _stop(process: subprocess.Popen) -> None:
    """SIGINT first (lets the driver shut Ray down), then SIGKILL to the whole process group."""
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait(process: subprocess.Popen, timeout: float, run_dir: Path, kill_when: Callable[[Path], bool] | None) -> int:
    """The process's exit status; SIGKILL to its group as soon as ``kill_when(run_dir)`` holds."""
    if kill_when is None:
        return process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while (returncode := process.poll()) is None:
        if kill_when(run_dir):
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(timeout=30)
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(process.args, timeout)
        time.sleep(0.5)
    return returncode


def run_verl_cpu(
    module: str,
    overrides: Sequence[str],
    run_dir: str | Path,
    timeout: float = 300.0,
    env: Mapping[str, str] | None = None,
    n_gpus: int = 1,
    include_cpu_overrides: bool = True,
    kill_when: Callable[[Path], bool] | None = None,
    nnodes: int = 1,
    ray_address: str | None = None,
) -> RunResult:
    """Runs ``python -m <module>`` with the CPU overrides plus ``overrides`` and returns its metrics.

    Args:
        module: entry point module, e.g. ``"verl.trainer.main_ppo"`` or ``"recipe.aero.main_aero"``.
        overrides: Hydra overrides applied after the CPU ones (``++key=value`` to change an added key).
        run_dir: created if missing; gets ``log.txt``, ``metrics.jsonl`` (truncated by verl at start) and
            ``checkpoints/`` (``trainer.default_local_dir``, unless ``overrides`` sets another).
        timeout: seconds before the run is stopped (``RunResult.timed_out``).
        env: extra environment variables for the driver *and* the Ray workers (``runtime_env.env_vars``).
        n_gpus: trainer ranks per node (fake Ray GPUs).
        include_cpu_overrides: False to pass only ``overrides`` (e.g. when a recipe yaml already has them).
        kill_when: polled with ``run_dir`` twice a second; when it returns True the whole process group gets
            SIGKILL at once (a crash without any shutdown: ``returncode`` is ``-9``).
        nnodes: ``trainer.nnodes`` (more than 1 needs ``ray_address``).
        ray_address: a running Ray cluster to attach to (``ray_kwargs.ray_init.address``) instead of a local one.
            Its workers start from the environment of ``ray start`` on their node, not the driver's, so the file
            logger's path then reaches them through ``runtime_env.env_vars`` as well.

    Returns:
        The run's exit status, timing and metrics; a non-zero ``returncode`` is returned, not raised.
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    extra_env = {k: str(v) for k, v in (env or {}).items() if k not in _ALWAYS_SET_ENV}
    if ray_address is not None:
        extra_env.setdefault(FILE_LOGGER_ENV, str(run_dir / METRICS_FILE))
    args = list(cpu_overrides(n_gpus=n_gpus, nnodes=nnodes, ray_address=ray_address)) if include_cpu_overrides else []
    args += runtime_env_overrides(extra_env)
    args.append(f"trainer.default_local_dir={run_dir / CHECKPOINT_DIR}")
    args += list(overrides)
    command = [sys.executable, "-m", module, *args]
    process_env = cpu_env(extra_env)
    process_env[FILE_LOGGER_ENV] = str(run_dir / METRICS_FILE)
    (run_dir / "command.txt").write_text(" \\\n  ".join(command) + "\n")
    start = time.monotonic()
    timed_out = False
    with open(run_dir / LOG_FILE, "wb") as log:
        process = subprocess.Popen(
            command, cwd=run_dir, env=process_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode = _wait(process, timeout, run_dir, kill_when)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(process)
            returncode = process.returncode if process.returncode is not None else -signal.SIGKILL
    return RunResult(
        returncode=returncode,
        timed_out=timed_out,
        wall_s=time.monotonic() - start,
        command=command,
        run_dir=run_dir,
        history=read_run_history(run_dir / METRICS_FILE),
    )
