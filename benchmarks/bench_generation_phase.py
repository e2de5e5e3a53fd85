"""Benchmark: where the generation phase of a real GRPO step goes, engine versus everything else.

Runs the real V1 trainer on CPU (``recipe.aero.main_aero`` with ``algorithm.adv_estimator=grpo`` by default, or
stock ``verl.trainer.main_ppo`` with ``--module``): ``--prompts`` x ``--n`` rollouts per step of ``--max-tokens``
tokens on the tiny Qwen2, with vLLM's per-request record on (``verl_patches.cpu.vllm_request_log``). For every
step after the first (warm-up) it prints the trainer's ``timing_s/gen`` (the whole generation phase: agent loop,
engine, rewards, TransferQueue, the sampler's wait), the time the engine had at least one request scheduled
(the union of each request's ``[scheduled_ts, last_token_ts]`` on the engine's clock), the engine's share of the
phase and the remainder per rollout. ``--variant NAME OVERRIDE...`` adds runs with extra Hydra overrides in the
same invocation, so a change is measured against the baseline under the same conditions.

Run on an otherwise idle machine:
    /work/tools/heavy --exclusive .venv/bin/python benchmarks/bench_generation_phase.py \
        --variant two_workers actor_rollout_ref.rollout.agent.num_workers=2
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from aero_cpu.launcher import run_verl_cpu
from aero_cpu.overrides import tiny_run_overrides
from aero_cpu.tiny_assets import build_all

REQUEST_LOG_ENV = "AERO_VLLM_REQUEST_LOG"


def busy_time(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``[start, end]`` intervals."""
    total, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def engine_busy_per_step(request_log: Path, rollouts_per_step: int) -> list[float]:
    """Engine busy seconds per step; a step's requests are the next ``rollouts_per_step`` by scheduling order."""
    requests = [json.loads(line) for line in request_log.read_text().splitlines() if line.strip()]
    requests.sort(key=lambda r: r["scheduled_ts"])
    return [
        busy_time([(r["scheduled_ts"], r["last_token_ts"]) for r in requests[i : i + rollouts_per_step]])
        for i in range(0, len(requests), rollouts_per_step)
    ]


def _pids(title_part: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", title_part], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def profile_agent_loop(metrics_path: Path, seconds: float, raw_out: Path) -> threading.Thread:
    """From the end of step 1 on, samples the agent-loop worker(s) with py-spy for ``seconds`` (raw stacks)."""

    def run() -> None:
        while not (metrics_path.exists() and metrics_path.read_text().strip()):
            time.sleep(0.5)
        pids = _pids("AgentLoopWorker")
        procs = [
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(int(seconds)),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--nonblocking",
                    "--output",
                    f"{raw_out}.{pid}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in pids
        ]
        for proc in procs:
            proc.wait()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def summarize_profile(raw_prefix: Path, top: int = 25) -> str:
    """Share of samples by innermost verl/recipe/transfer_queue/ray frame and by whole-stack inclusion."""
    own, inclusive, total = collections.Counter(), collections.Counter(), 0
    for path in raw_prefix.parent.glob(raw_prefix.name + ".*"):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            n = int(count)
            total += n
            ours = [f for f in frames if any(k in f for k in ("verl", "recipe", "transfer_queue", "ray/", "asyncio"))]
            if ours:
                own[ours[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    if not total:
        return "no py-spy samples"
    lines = [f"py-spy: {total} samples of the agent-loop worker(s)", "innermost framework frame:"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def run_once(args, name: str, extra: list[str], out_dir: Path) -> dict:
    assets = build_all()
    run_dir = out_dir / name
    request_log = run_dir / "vllm_requests.jsonl"
    overrides = [
        *tiny_run_overrides(
            assets, train_batch_size=args.prompts, rollout_n=args.n, max_response_length=args.max_tokens
        ),
        "algorithm.adv_estimator=grpo",
        f"trainer.total_training_steps={args.steps}",
        "actor_rollout_ref.rollout.disable_log_stats=False",
        *extra,
    ]
    run_dir.mkdir(parents=True, exist_ok=True)
    profiler = None
    if args.py_spy_s:
        profiler = profile_agent_loop(run_dir / "metrics.jsonl", args.py_spy_s, run_dir / "agent_loop.pyspy")
    result = run_verl_cpu(args.module, overrides, run_dir, timeout=1200, env={REQUEST_LOG_ENV: str(request_log)})
    if profiler is not None:
        profiler.join(timeout=5)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: exit {result.returncode}\n{result.log_tail()}")
    gen = result.series("timing_s/gen")
    busy = engine_busy_per_step(request_log, args.prompts * args.n)
    rows = []
    for step in sorted(gen)[1:]:  # step 1 includes the engine's warm-up
        engine = busy[step - 1]
        rows.append({"step": step, "gen_s": gen[step], "engine_s": engine})
    profile = summarize_profile(run_dir / "agent_loop.pyspy") if args.py_spy_s else ""
    return {"name": name, "rows": rows, "wall_s": result.wall_s, "profile": profile}


def report(run: dict, rollouts: int) -> str:
    gen = [r["gen_s"] for r in run["rows"]]
    engine = [r["engine_s"] for r in run["rows"]]
    other_ms = [(g - e) / rollouts * 1000 for g, e in zip(gen, engine, strict=True)]
    share = [e / g for g, e in zip(gen, engine, strict=True)]
    return (
        f"{run['name']:16s} gen {statistics.median(gen):6.2f} s (all {[round(g, 2) for g in gen]})  "
        f"engine {statistics.median(engine):5.2f} s  engine share {statistics.median(share):4.0%}  "
        f"rest {statistics.median(other_ms):5.1f} ms/rollout"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="recipe.aero.main_aero")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "OVERRIDE"))
    parser.add_argument("--py-spy-s", type=float, default=0, help="sample the agent-loop worker(s) for this long")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args()
    rollouts = args.prompts * args.n
    with tempfile.TemporaryDirectory(prefix="bench_gen_") as tmp:
        out_dir = Path(args.out or tmp)
        runs = [run_once(args, "baseline", [], out_dir)]
        runs += [run_once(args, name, extra, out_dir) for name, *extra in args.variant]
    print(f"{args.module}: GRPO, {args.prompts} prompts x {args.n} rollouts x {args.max_tokens} tokens per step")
    for run in runs:
        print(report(run, rollouts))
    for run in runs:
        if run["profile"]:
            print(f"--- {run['name']}\n{run['profile']}")
    base = statistics.median(r["gen_s"] for r in runs[0]["rows"])
    for run in runs[1:]:
        print(f"gen ratio baseline / {run['name']}: {base / statistics.median(r['gen_s'] for r in run['rows']):.2f}x")


if __name__ == "__main__":
    main()
