"""Training-compute estimates in FLOPs (DESIGN.md §4), the basis of the "less total compute" comparison.

The standard dense-transformer approximation: a forward pass costs about 2 x params FLOPs per token and a
forward + backward pass about 6 x params per token. Attention's sequence-length term is ignored, as in the
paper-style accounting; AERO and GRPO are estimated the same way, so the ratio between them is what counts.
"""

from __future__ import annotations

import dataclasses

FORWARD_FLOPS_PER_PARAM_TOKEN = 2
TRAIN_FLOPS_PER_PARAM_TOKEN = 6


def _check(params: int, tokens: int) -> None:
    if params < 0 or tokens < 0:
        raise ValueError(f"params and tokens must be >= 0, got params={params}, tokens={tokens}")


def forward_flops(params: int, tokens: int) -> float:
    """2 x params per token."""
    _check(params, tokens)
    return float(FORWARD_FLOPS_PER_PARAM_TOKEN) * params * tokens


def forward_backward_flops(params: int, tokens: int) -> float:
    """6 x params per token."""
    _check(params, tokens)
    return float(TRAIN_FLOPS_PER_PARAM_TOKEN) * params * tokens


def generation_flops(params: int, prompt_tokens: int, response_tokens: int) -> float:
    """Rollout generation: every prompt and response token passes forward once (KV cache, no re-use of
    prompts across rollouts assumed: pass the prompt tokens of every rollout)."""
    return forward_flops(params, prompt_tokens + response_tokens)


def logprob_flops(params: int, prompt_tokens: int, response_tokens: int, *, with_reference: bool) -> float:
    """Log-prob recomputation of the trained sequences: old policy, plus the reference model if used."""
    passes = 2 if with_reference else 1
    return passes * forward_flops(params, prompt_tokens + response_tokens)


def update_flops(params: int, prompt_tokens: int, response_tokens: int, *, ppo_epochs: int = 1) -> float:
    """Policy update: forward + backward over the trained sequences once per PPO epoch."""
    if ppo_epochs < 1:
        raise ValueError(f"ppo_epochs must be >= 1, got {ppo_epochs}")
    return ppo_epochs * forward_backward_flops(params, prompt_tokens + response_tokens)


@dataclasses.dataclass(frozen=True)
class StepFlops:
    """One step's compute; ``total`` is "total training compute" (DESIGN.md §4)."""

    gen: float
    logprob: float
    update: float

    @property
    def total(self) -> float:
        return self.gen + self.logprob + self.update

    def as_metrics(self, prefix: str = "aero/compute") -> dict[str, float]:
        """``aero/compute/{gen,logprob,update,total}_flops``."""
        return {
            f"{prefix}/gen_flops": self.gen,
            f"{prefix}/logprob_flops": self.logprob,
            f"{prefix}/update_flops": self.update,
            f"{prefix}/total_flops": self.total,
        }


def step_flops(
    params: int,
    *,
    gen_prompt_tokens: int,
    gen_response_tokens: int,
    train_prompt_tokens: int,
    train_response_tokens: int,
    with_reference: bool,
    ppo_epochs: int = 1,
) -> StepFlops:
    """Compute of one training step: generation over all generated rollouts, log-prob and update over the
    trained (kept) rollouts only, which is where curation saves compute."""
    return StepFlops(
        gen=generation_flops(params, gen_prompt_tokens, gen_response_tokens),
        logprob=logprob_flops(params, train_prompt_tokens, train_response_tokens, with_reference=with_reference),
        update=update_flops(params, train_prompt_tokens, train_response_tokens, ppo_epochs=ppo_epochs),
    )
