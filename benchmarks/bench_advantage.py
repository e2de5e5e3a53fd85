"""Times ``algorithm.adv_estimator=aero`` against verl's ``grpo`` through ``ray_trainer.compute_advantage``.

Both estimators get the same DataProto (uid per prompt, outcome score on the last response token, random
response lengths, a mix of mixed and degenerate groups) and run in the same process, alternating, several
times; the script prints the median times and the ratio aero / grpo (target <= 1.5). verl's vectorised
``grpo_vectorized`` is printed as a second reference.

Usage: .venv/bin/python benchmarks/bench_advantage.py [--prompts 1024 --rollouts 16 --tokens 1024 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import numpy as np
import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo.ray_trainer import compute_advantage

from recipe.aero import register


def build_batch(prompts: int, rollouts: int, tokens: int, seed: int) -> DataProto:
    """Rows in verl's interleaved order; success rates spread over [0, 1] so all strata and degenerate groups
    (about a third of them, as in typical RLVR batches) occur."""
    rng = np.random.default_rng(seed)
    rows = prompts * rollouts
    success_rate = rng.choice([0.0, 1.0, *np.linspace(0.05, 0.95, 8)], size=prompts)
    scores = (rng.random((prompts, rollouts)) < success_rate[:, None]).astype(np.float32).ravel()
    lengths = torch.as_tensor(rng.integers(1, tokens + 1, rows))
    positions = torch.arange(tokens)
    response_mask = (positions[None, :] < lengths[:, None]).float()
    rewards = torch.zeros(rows, tokens)
    rewards[torch.arange(rows), lengths - 1] = torch.as_tensor(scores)
    uids = np.repeat(np.array([str(uuid.UUID(int=int(rng.integers(2**62)))) for _ in range(prompts)], object), rollouts)
    return DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": response_mask}, non_tensors={"uid": uids}
    )


def time_estimator(data: DataProto, estimator: str, config, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        compute_advantage(data, adv_estimator=estimator, config=config)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1024)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    register.assert_registered()
    data = build_batch(args.prompts, args.rollouts, args.tokens, args.seed)
    config = OmegaConf.create({"aero": {}})
    estimators = ("aero", "grpo", "grpo_vectorized")
    for estimator in estimators:  # warm-up: first-call allocations and lazy imports
        compute_advantage(data, adv_estimator=estimator, config=config)
    times = {name: [] for name in estimators}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit all estimators alike
        for estimator in estimators:
            times[estimator] += time_estimator(data, estimator, config, 1)
    medians = {name: statistics.median(values) for name, values in times.items()}
    shape = f"{args.prompts} prompts x {args.rollouts} rollouts x {args.tokens} tokens"
    print(f"compute_advantage on {shape}, median of {args.repeats} (torch threads {torch.get_num_threads()})")
    for name in estimators:
        print(f"  {name:16s} {medians[name] * 1e3:9.1f} ms   (all: {', '.join(f'{t * 1e3:.1f}' for t in times[name])})")
    print(f"ratio aero / grpo            = {medians['aero'] / medians['grpo']:.3f}  (target <= 1.5)")
    print(f"ratio aero / grpo_vectorized = {medians['aero'] / medians['grpo_vectorized']:.3f}")


if __name__ == "__main__":
    main()
