"""Batched generation with HF ``generate``: what the HF rollout server runs for each batch of requests.

Why static batches: on a CPU, one left-padded ``generate`` over 64 prompts costs about the time of one
prompt (cpu_e2e_notes §9: 0.06 s vs 1.82 s one at a time), while transformers' continuous batching is
slower still for a tiny model. Requests in one batch must share sampling parameters because ``generate``
takes one ``GenerationConfig``; per-request ``max_tokens`` and stop tokens are applied by truncating rows.

Logprobs are the log-softmax of the *processed* scores ``generate`` sampled from (temperature, top-k, top-p
applied), i.e. the log-probability of each token under the sampling distribution, as vLLM's
``logprobs_mode=processed_logprobs`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SamplingKey:
    """Sampling parameters that must be equal for requests to share one ``generate`` call.

    Attributes:
        temperature: 0 means greedy.
        top_p: nucleus mass; 1.0 disables.
        top_k: -1 or 0 disables.
        repetition_penalty: 1.0 disables.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    @classmethod
    def from_sampling_params(cls, sampling_params: dict) -> SamplingKey:
        """Reads verl's agent-loop sampling dict (vLLM names); missing keys take vLLM's defaults."""
        top_k = sampling_params.get("top_k")
        return cls(
            temperature=float(sampling_params.get("temperature", 1.0)),
            top_p=float(sampling_params.get("top_p", 1.0)),
            top_k=-1 if top_k is None else int(top_k),
            repetition_penalty=float(sampling_params.get("repetition_penalty") or 1.0),
        )


@dataclass
class GenerationRequest:
    """One rollout request.

    Attributes:
        prompt_ids: prompt token ids.
        max_tokens: most response tokens to return.
        sampling: the batch key.
        stop_token_ids: extra tokens that end this response (kept, like EOS).
        want_logprobs: whether to return per-token logprobs.
    """

    prompt_ids: list[int]
    max_tokens: int
    sampling: SamplingKey
    stop_token_ids: frozenset[int] = field(default_factory=frozenset)
    want_logprobs: bool = False


@dataclass
class GenerationResult:
    """The response of one request: token ids (ending at the first stop/EOS, inclusive) and logprobs."""

    token_ids: list[int]
    log_probs: list[float] | None


def _generation_config(key: SamplingKey, max_new_tokens: int, pad_token_id: int, eos_token_ids: list[int]):
    from transformers import GenerationConfig

    kwargs = dict(
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_ids,
        return_dict_in_generate=True,
        output_scores=True,
        repetition_penalty=key.repetition_penalty,
    )
    if key.greedy:
        kwargs.update(do_sample=False)
    else:
        kwargs.update(
            do_sample=True,
            temperature=key.temperature,
            top_p=key.top_p,
            top_k=key.top_k if key.top_k > 0 else 0,  # 0 disables transformers' TopKLogitsWarper
        )
    return GenerationConfig(**kwargs)


def _truncate(row: list[int], max_tokens: int, stop_ids: set[int]) -> int:
    """Length of ``row`` kept: up to and including the first stop token, at most ``max_tokens``."""
    for i, token in enumerate(row[:max_tokens]):
        if token in stop_ids:
            return i + 1
    return min(len(row), max_tokens)


def generate_batch(
    model, requests: list[GenerationRequest], pad_token_id: int, eos_token_ids: list[int]
) -> list[GenerationResult]:
    """Runs one left-padded batched ``generate`` for requests with identical sampling parameters.

    Args:
        model: an HF causal LM (eval mode).
        requests: non-empty, all with the same ``sampling`` key.
        pad_token_id: id used for left padding and after a row has finished.
        eos_token_ids: ids that end every response.

    Returns:
        One result per request, in order.

    Raises:
        ValueError: if the requests do not share sampling parameters (they need separate batches).
    """
    import torch

    key = requests[0].sampling
    if any(r.sampling != key for r in requests):
        raise ValueError("generate_batch needs requests with identical sampling parameters; group them first")
    width = max(len(r.prompt_ids) for r in requests)
    input_ids = torch.full((len(requests), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(requests), width), dtype=torch.long)
    for row, request in enumerate(requests):
        n = len(request.prompt_ids)
        input_ids[row, width - n :] = torch.tensor(request.prompt_ids, dtype=torch.long)
        attention_mask[row, width - n :] = 1
    config = _generation_config(key, max(r.max_tokens for r in requests), pad_token_id, eos_token_ids)
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
    responses = out.sequences[:, width:]
    need_logprobs = any(r.want_logprobs for r in requests)
    token_logprobs = None
    if need_logprobs and responses.shape[1] > 0:
        scores = torch.stack(out.scores, dim=1).float()  # (batch, new_tokens, vocab), processed logits
        token_logprobs = torch.log_softmax(scores, dim=-1).gather(-1, responses.unsqueeze(-1)).squeeze(-1)
    results = []
    for row, request in enumerate(requests):
        ids = responses[row].tolist()
        keep = _truncate(ids, request.max_tokens, set(eos_token_ids) | set(request.stop_token_ids))
        log_probs = None
        if request.want_logprobs:
            log_probs = token_logprobs[row, :keep].tolist() if token_logprobs is not None else []
        results.append(GenerationResult(token_ids=ids[:keep], log_probs=log_probs))
    return results
