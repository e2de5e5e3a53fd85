"""Benchmark: the HF rollout server's request batching vs serving one request at a time.

Starts two ``HFRolloutServer`` Ray actors on the tiny Qwen2 (exactly as ``HFReplica`` launches them): one
batching (requests arriving within ``--window-ms`` share one ``generate``), one with ``max_batch_size=1``
(one ``generate`` per request, what the first CPU replica did). Sends ``--requests`` concurrent sampling
requests to each and prints both wall-clock times and their ratio, measured in the same run.

Run (starts Ray, so take the shared lock):
    flock /tmp/aero_heavy.lock .venv/bin/python benchmarks/bench_hf_rollout.py
"""

from __future__ import annotations

import argparse
import asyncio
import time

import ray
from transformers import AutoTokenizer

from aero_cpu.tiny_assets import build_all
from verl_patches.hf_rollout.server import HFRolloutServer


def _server(model_dir: str, response_length: int, window_ms: float, max_batch_size: int):
    config = {
        "response_length": response_length,
        "prompt_length": 64,
        "engine_kwargs": {"hf": {"batch_window_ms": window_ms, "max_batch_size": max_batch_size}},
    }
    actor = ray.remote(HFRolloutServer).options(num_cpus=0, max_concurrency=1000)
    return actor.remote(config, {"local_path": model_dir}, 0)


async def _send(server, prompts: list[list[int]], max_tokens: int) -> float:
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True, "max_tokens": max_tokens}
    start = time.perf_counter()
    outputs = await asyncio.gather(
        *[
            server.generate.remote(prompt_ids=p, sampling_params=dict(params), request_id=str(i))
            for i, p in enumerate(prompts)
        ]
    )
    elapsed = time.perf_counter() - start
    assert all(0 < len(o.token_ids) <= max_tokens for o in outputs)
    return elapsed


async def _main(args) -> None:
    assets = build_all()
    tokenizer = AutoTokenizer.from_pretrained(assets.model_dir)
    prompts = [
        list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": f"{i % 9 + 1}+{i % 7 + 2}="}], add_generation_prompt=True
            )["input_ids"]
        )
        for i in range(args.requests)
    ]
    batched = _server(str(assets.model_dir), args.max_tokens, args.window_ms, args.requests)
    single = _server(str(assets.model_dir), args.max_tokens, 0.0, 1)
    for server in (batched, single):  # warm-up: model load and first-call overheads
        await _send(server, prompts[:4], args.max_tokens)
    t_batched = min([await _send(batched, prompts, args.max_tokens) for _ in range(args.repeats)])
    t_single = min([await _send(single, prompts, args.max_tokens) for _ in range(args.repeats)])
    sizes = await batched.get_batch_sizes.remote()
    print(f"{args.requests} concurrent requests x {args.max_tokens} new tokens (tiny Qwen2, sampling, logprobs)")
    print(f"one at a time (max_batch_size=1): {t_single:.3f} s")
    print(f"batched (window {args.window_ms} ms):  {t_batched:.3f} s   batch sizes seen: {sizes[-args.repeats * 2 :]}")
    print(f"speed-up one-at-a-time / batched: {t_single / t_batched:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--window-ms", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings per mode")
    args = parser.parse_args()
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        asyncio.run(_main(args))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
