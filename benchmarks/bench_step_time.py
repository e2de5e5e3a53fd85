"""Benchmark: AERO's wall-clock per step and generation per step against GRPO's, measured in one invocation.

Runs the real V1 trainer on CPU (``recipe.aero.main_aero`` on vLLM) for each arm: ``grpo`` (``rollout.n = budget``),
``aero`` (the paper's AERO, our defaults) and every ``--variant NAME OVERRIDE...`` (AERO with extra Hydra overrides,
e.g. ``algorithm.aero.guided_exploration=true``). ``--task demo`` (default) is the CPU demo's task: the warm-started
policy on the synthetic arithmetic (``aero_cpu.warm_start``, built and cached on first use), whose prompts spread
over 0 of N, mixed and N of N; the training set is cut to ``--train-prompts`` so that every prompt comes back in a
later epoch, which is when the persistent posterior can guide exploration. ``--task tiny`` is the tests' tiny model
(it solves almost nothing, so AERO rescues nearly every prompt). Arms alternate within each repeat, so a slow period
of a shared machine hits all of them. Per run it averages verl's ``timing_s/step`` and ``timing_s/gen``, the recipe's
``aero/timing/rescue_tail_s`` and the response tokens generated over steps 2..N (step 1 includes warm-up), then
prints each arm's mean over repeats with the spread, and its ratio to GRPO's. Held-out accuracy is not measured here
(no validation runs); the demo and the learning benchmark report it.

``--summarize --out DIR`` prints the tables again from the runs already under ``DIR``.

Run on an otherwise idle machine (figures from a busy one are indicative only):
    flock /tmp/aero_heavy.lock .venv/bin/python benchmarks/bench_step_time.py --repeats 2 --steps 8 \
        --variant aero_guided algorithm.aero.guided_exploration=true
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from types import SimpleNamespace

from aero_cpu.launcher import run_verl_cpu
from aero_cpu.overrides import tiny_run_overrides
from aero_cpu.tiny_assets import build_all
from aero_cpu.warm_start import build_demo_assets
from recipe.aero.report import load_history

MODULE = "recipe.aero.main_aero"
METRICS = {
    "s/step": "timing_s/step",
    "gen s/step": "timing_s/gen",
    "rescue tail s": "aero/timing/rescue_tail_s",
    "gen tokens": "aero/gen/response_tokens",
}
SYNTHETIC_REWARD = Path(__file__).resolve().parent.parent / "aero_cpu" / "synthetic_reward.py"


def task_overrides(args) -> list[str]:
    """Model, data, reward and batch sizes of the chosen task."""
    if args.task == "tiny":
        return tiny_run_overrides(build_all(), train_batch_size=args.prompts, rollout_n=args.budget, lr=args.lr)
    demo = build_demo_assets()
    assets = SimpleNamespace(
        train_file=demo.train_file, val_file=demo.eval_file, model_dir=demo.model_dir, reward_fn_file=SYNTHETIC_REWARD
    )
    return [
        *tiny_run_overrides(assets, args.prompts, args.budget, max_prompt_length=48, lr=args.lr),
        f"data.train_max_samples={args.train_prompts or args.prompts * args.steps // 2}",
        "data.shuffle=True",
        "actor_rollout_ref.rollout.temperature=1.0",
    ]


def run_arm(name: str, extra: list[str], args, out_dir: Path, repeat: int) -> dict[int, dict]:
    """One training run; verl's logged metrics per step."""
    run_dir = out_dir / f"{name}_{repeat}"
    estimator = "grpo" if name == "grpo" else "aero"
    overrides = [
        *task_overrides(args),
        f"algorithm.adv_estimator={estimator}",
        f"algorithm.aero.budget={args.budget}",
        f"trainer.total_training_steps={args.steps}",
        *extra,
    ]
    result = run_verl_cpu(MODULE, overrides, run_dir, timeout=args.timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{name} run {repeat} failed (exit {result.returncode}):\n{result.log_tail()}")
    return result.steps()


def window_means(steps: dict[int, dict], first: int) -> dict[str, float]:
    """Each metric's mean over the logged steps >= ``first``."""
    chosen = [m for step, m in steps.items() if step >= first]
    return {label: statistics.fmean(m.get(key, 0.0) for m in chosen) for label, key in METRICS.items()}


def print_table(title: str, results: dict[str, list[dict[str, float]]]) -> None:
    """Each arm's mean over repeats, +- half the range, and its ratio to GRPO's mean."""
    grpo = {label: statistics.fmean(r[label] for r in results["grpo"]) for label in METRICS}
    print(f"\n{title}")
    for name, runs in results.items():
        cells = []
        for label in METRICS:
            values = [r[label] for r in runs]
            mean, spread = statistics.fmean(values), (max(values) - min(values)) / 2
            ratio = f" ({mean / grpo[label]:.2f}x GRPO)" if grpo[label] > 0 else ""
            cells.append(f"{label} {mean:.4g} ± {spread:.2g}{ratio}")
        print(f"{name:>14}: " + " | ".join(cells))


def summarize(runs: dict[str, list[dict[int, dict]]], args, out_dir: Path) -> None:
    """Steps 2..N (step 1 is warm-up), and on the demo task the steps of the later epochs, when the persistent
    posterior has seen every prompt (what guided exploration needs)."""
    head = f"{args.task} task, {args.prompts} prompts/step, budget {args.budget}, runs under {out_dir}"
    print_table(f"{head}: steps 2..{args.steps}", {n: [window_means(r, 2) for r in rs] for n, rs in runs.items()})
    if args.task == "demo":
        epoch_steps = (args.train_prompts or args.prompts * args.steps // 2) // args.prompts
        if epoch_steps < args.steps:
            later = {n: [window_means(r, epoch_steps + 1) for r in rs] for n, rs in runs.items()}
            print_table(f"{head}: steps {epoch_steps + 1}..{args.steps} (second epoch on)", later)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16, help="prompts per step")
    parser.add_argument("--budget", type=int, default=8, help="GRPO's N and AERO's per-prompt budget")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--task", choices=["demo", "tiny"], default="demo")
    parser.add_argument("--train-prompts", type=int, default=None, help="demo: training prompts (default: half seen)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--summarize", action="store_true", help="only print the tables of the runs under --out")
    parser.add_argument(
        "--variant", nargs="+", action="append", default=[], metavar=("NAME", "OVERRIDE"), help="AERO + overrides"
    )
    args = parser.parse_args()
    arms = {"grpo": [], "aero": [], **{variant[0]: variant[1:] for variant in args.variant}}
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="bench_step_time_"))
    runs: dict[str, list[dict[int, dict]]] = {name: [] for name in arms}
    for repeat in range(args.repeats):
        for name, extra in arms.items():
            if args.summarize:
                runs[name].append(load_history(out_dir / f"{name}_{repeat}" / "metrics.jsonl"))
                continue
            runs[name].append(run_arm(name, extra, args, out_dir, repeat))
            print(f"repeat {repeat} {name}: {window_means(runs[name][-1], 2)}", flush=True)
    summarize(runs, args, out_dir)


if __name__ == "__main__":
    main()
