"""An HF-``generate`` rollout backend for verl's agent-loop architecture (CPU CI; no vLLM/SGLang here).

* :mod:`.batching`: one static, left-padded, batched ``model.generate`` for requests that share sampling
  parameters, with per-request ``max_tokens``/stop truncation and sampling-distribution logprobs.
* :mod:`.server`: ``HFRolloutServer``, the Ray actor verl's ``LLMServerClient`` calls ``generate`` on; it
  collects requests arriving within a short window into one batch.
* :mod:`.replica`: ``HFReplica`` (``RolloutReplica``) launching that actor.
* :mod:`.adapter`: ``HFServerAdapter`` (``BaseRollout``) inside each trainer worker, forwarding weight
  updates from verl's checkpoint-engine path to the server.

Registered with verl by :mod:`verl_patches.hf_rollout_registration` (``rollout.name=hf``).
"""
