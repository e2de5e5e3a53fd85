"""The HF rollout's batched generation: same tokens as one-at-a-time, sampling-distribution logprobs,
per-request truncation, and the server collecting concurrent requests into one batch."""

from __future__ import annotations

import asyncio

import pytest
import torch

from aero_cpu.tiny_assets import build_all
from verl_patches.hf_rollout.batching import GenerationRequest, SamplingKey, generate_batch
from verl_patches.hf_rollout.server import HFRolloutServer

GREEDY = SamplingKey(temperature=0.0)


@pytest.fixture(scope="module")
def assets():
    return build_all()


@pytest.fixture(scope="module")
def model(assets):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(assets.model_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def prompts(assets):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(assets.model_dir)
    texts = ["1+2=", "What is 7+8? Answer:", "9+9=", "a much longer prompt about 3+4 and more text"]
    return [tokenizer.apply_chat_template([{"role": "user", "content": t}], add_generation_prompt=True) for t in texts]


def _ids(prompt) -> list[int]:
    return list(prompt["input_ids"]) if isinstance(prompt, dict) or hasattr(prompt, "keys") else list(prompt)


def _eos_pad(model):
    return [model.generation_config.eos_token_id], model.generation_config.pad_token_id


def test_batched_greedy_equals_one_at_a_time(model, prompts):
    eos, pad = _eos_pad(model)
    requests = [GenerationRequest(prompt_ids=_ids(p), max_tokens=12, sampling=GREEDY) for p in prompts]
    batched = generate_batch(model, requests, pad, eos)
    single = [generate_batch(model, [r], pad, eos)[0] for r in requests]
    assert [b.token_ids for b in batched] == [s.token_ids for s in single]
    assert all(0 < len(b.token_ids) <= 12 for b in batched)


def test_logprobs_are_those_of_the_processed_sampling_distribution(model, prompts):
    """Recompute each sampled token's logprob from a plain forward: logits / T, top-k mask, log-softmax."""
    eos, pad = _eos_pad(model)
    key = SamplingKey(temperature=0.7, top_k=5)
    torch.manual_seed(0)
    requests = [GenerationRequest(_ids(p), max_tokens=10, sampling=key, want_logprobs=True) for p in prompts]
    results = generate_batch(model, requests, pad, eos)
    for request, result in zip(requests, results, strict=True):
        assert len(result.log_probs) == len(result.token_ids) > 0
        full = torch.tensor([request.prompt_ids + result.token_ids])
        with torch.no_grad():
            logits = model(full).logits[0, len(request.prompt_ids) - 1 : -1] / key.temperature
        kth = torch.topk(logits, key.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
        expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(result.token_ids)[:, None]).squeeze(-1)
        assert torch.allclose(torch.tensor(result.log_probs), expected, atol=1e-4), (result.log_probs, expected)
        raw = torch.log_softmax(model(full).logits[0, len(request.prompt_ids) - 1 : -1], -1)
        raw = raw.gather(-1, torch.tensor(result.token_ids)[:, None]).squeeze(-1)
        assert not torch.allclose(torch.tensor(result.log_probs), raw, atol=1e-3)  # raw logits would be wrong


def test_per_request_max_tokens_and_stop_tokens_truncate_rows(model, prompts):
    eos, pad = _eos_pad(model)
    free = generate_batch(model, [GenerationRequest(_ids(prompts[0]), 8, GREEDY)], pad, eos)[0].token_ids
    first = free[0]
    requests = [
        GenerationRequest(_ids(prompts[0]), max_tokens=3, sampling=GREEDY),
        GenerationRequest(_ids(prompts[0]), max_tokens=8, sampling=GREEDY, stop_token_ids=frozenset({first})),
        GenerationRequest(_ids(prompts[0]), max_tokens=8, sampling=GREEDY),
    ]
    short, stopped, full = generate_batch(model, requests, pad, eos)
    assert short.token_ids == free[:3]
    assert stopped.token_ids == [first]
    assert full.token_ids == free


def test_mixed_sampling_parameters_are_refused(model, prompts):
    eos, pad = _eos_pad(model)
    requests = [GenerationRequest(_ids(prompts[0]), 4, GREEDY), GenerationRequest(_ids(prompts[1]), 4, SamplingKey())]
    with pytest.raises(ValueError, match="identical sampling"):
        generate_batch(model, requests, pad, eos)


def _server(assets, window_ms: float) -> HFRolloutServer:
    config = {"response_length": 8, "prompt_length": 64, "engine_kwargs": {"hf": {"batch_window_ms": window_ms}}}
    return HFRolloutServer(config, {"local_path": str(assets.model_dir)}, replica_rank=0)


async def test_server_collects_concurrent_requests_into_one_batch_per_sampling_key(assets, prompts):
    server = _server(assets, window_ms=50)
    greedy = {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": True}
    sampled = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}
    calls = [server.generate(_ids(prompts[i % 4]), dict(greedy), f"g{i}") for i in range(12)]
    calls += [server.generate(_ids(prompts[i % 4]), dict(sampled), f"s{i}") for i in range(5)]
    outputs = await asyncio.gather(*calls)
    assert sorted(server.batch_sizes) == [5, 12]
    assert all(len(o.token_ids) == len(o.log_probs) and 0 < len(o.token_ids) <= 8 for o in outputs)
    assert outputs[0].token_ids == outputs[4].token_ids  # same prompt, greedy


async def test_server_weight_update_changes_generation_and_rejects_unknown_names(assets, prompts):
    server = _server(assets, window_ms=1)
    params = {"temperature": 0, "logprobs": True, "max_tokens": 6}
    before = await server.generate(_ids(prompts[0]), dict(params), "a")
    new_weights = [(name, torch.randn_like(t)) for name, t in server.model.state_dict().items()]
    assert await server.update_weights(new_weights, global_steps=3) == len(new_weights)
    after = await server.generate(_ids(prompts[0]), dict(params), "b")
    assert after.extra_fields["global_steps"] == 3
    assert (before.token_ids, before.log_probs) != (after.token_ids, after.log_probs)
    with pytest.raises(KeyError, match="not_a_param"):
        await server.update_weights([("not_a_param", torch.zeros(1))])
