"""``HFRolloutServer``: the rollout server actor behind ``rollout.name=hf``; batches concurrent requests.

verl's agent loop sends one ``generate`` call per trajectory to the server handle (through
``LLMServerClient``), all concurrently. The server parks each request, waits a short window (default 5 ms,
``rollout.engine_kwargs.hf.batch_window_ms``) for more to arrive, then runs one batched ``generate`` per
group of requests with identical sampling parameters (at most ``engine_kwargs.hf.max_batch_size`` rows).
Requests arriving while a batch runs form the next batch. ``generate`` runs in a thread
(``asyncio.to_thread``) so the actor's event loop keeps accepting requests and control calls.

The remaining methods mirror the server interface verl's replicas and trainers call on vLLM/SGLang
servers; for an in-memory HF model, sleeping/waking and KV-cache management are no-ops.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from verl_patches.hf_rollout.batching import GenerationRequest, SamplingKey, generate_batch

logger = logging.getLogger(__name__)

DEFAULT_BATCH_WINDOW_MS = 5.0


def _get(config: Any, name: str, default=None):
    """Reads a field from a dataclass, DictConfig or dict config."""
    if isinstance(config, dict):
        return config.get(name, default)
    value = getattr(config, name, default)
    return default if value is None else value


@dataclass
class _Pending:
    request: GenerationRequest
    future: asyncio.Future


class HFRolloutServer:
    """Serves ``generate`` for one rollout replica from an in-process HF model (wrap with ``ray.remote``).

    Args:
        config: the rollout config (``RolloutConfig`` or its DictConfig).
        model_config: the model config; ``local_path`` (or ``path``) is the HF model directory.
        replica_rank: index of the replica, reported by ``get_server_address``.
    """

    def __init__(self, config, model_config, replica_rank: int = 0):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self.replica_rank = replica_rank
        model_path = _get(model_config, "local_path") or _get(model_config, "path")
        if not model_path:
            raise ValueError("HFRolloutServer: model_config has neither local_path nor path")
        hf_kwargs = dict(_get(config, "engine_kwargs", {}) or {}).get("hf", {}) or {}
        self.batch_window_s = float(hf_kwargs.get("batch_window_ms", DEFAULT_BATCH_WINDOW_MS)) / 1000.0
        self.max_batch_size = int(hf_kwargs.get("max_batch_size", _get(config, "max_num_seqs", 1024)))
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_token_ids = list(eos) if isinstance(eos, list | tuple) else [int(eos)]
        pad = self.model.generation_config.pad_token_id
        self.pad_token_id = int(pad if pad is not None else (tokenizer.pad_token_id or self.eos_token_ids[0]))
        self.global_steps = None
        self.batch_sizes: list[int] = []  # sizes of the batches run, for tests and benchmarks
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._model_lock: asyncio.Lock | None = None
        self._batcher: asyncio.Task | None = None

    # ----------------------------------------------------------------- generation
    def _max_tokens(self, prompt_len: int, sampling_params: dict) -> int:
        response_length = int(_get(self.config, "response_length", 512))
        prompt_length = int(_get(self.config, "prompt_length", 512))
        if "max_tokens" in sampling_params:
            max_tokens = int(sampling_params["max_tokens"])
        elif "max_new_tokens" in sampling_params:
            max_tokens = int(sampling_params["max_new_tokens"])
        else:
            max_tokens = min(response_length, prompt_length + response_length - prompt_len)
        max_model_len = _get(self.config, "max_model_len")
        if max_model_len:
            max_tokens = min(max_tokens, int(max_model_len) - prompt_len)
        return max(1, max_tokens)

    def _ensure_batcher(self) -> None:
        if self._batcher is None or self._batcher.done():
            self._wakeup = asyncio.Event()
            self._model_lock = asyncio.Lock()
            self._batcher = asyncio.get_running_loop().create_task(self._batch_loop())

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data=None,
        video_data=None,
        audio_data=None,
        mm_processor_kwargs=None,
        priority: int = 0,
        **kwargs,
    ):
        """Token-in-token-out generation of one response (batched with concurrent requests).

        Returns:
            verl's ``TokenOutput`` with ``stop_reason="completed"`` and ``extra_fields["global_steps"]``.

        Raises:
            NotImplementedError: for multi-modal inputs, which this text-only backend cannot serve.
        """
        from verl.workers.rollout.replica import TokenOutput

        if image_data is not None or video_data is not None or audio_data is not None:
            raise NotImplementedError(f"HF rollout server is text-only; request {request_id} has multi-modal data")
        prompt_ids = [int(t) for t in prompt_ids]
        request = GenerationRequest(
            prompt_ids=prompt_ids,
            max_tokens=self._max_tokens(len(prompt_ids), sampling_params),
            sampling=SamplingKey.from_sampling_params(sampling_params),
            stop_token_ids=frozenset(int(t) for t in sampling_params.get("stop_token_ids") or ()),
            want_logprobs=bool(sampling_params.get("logprobs")),
        )
        self._ensure_batcher()
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(request, future))
        self._wakeup.set()
        result = await future
        return TokenOutput(
            token_ids=result.token_ids,
            log_probs=result.log_probs,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def _batch_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(self.batch_window_s)
            self._wakeup.clear()
            pending, self._pending = self._pending, []
            groups: dict[SamplingKey, list[_Pending]] = {}
            for item in pending:
                groups.setdefault(item.request.sampling, []).append(item)
            for group in groups.values():
                for start in range(0, len(group), self.max_batch_size):
                    await self._run_batch(group[start : start + self.max_batch_size])

    async def _run_batch(self, batch: list[_Pending]) -> None:
        requests = [item.request for item in batch]
        try:
            async with self._model_lock:
                results = await asyncio.to_thread(
                    generate_batch, self.model, requests, self.pad_token_id, self.eos_token_ids
                )
        except Exception as error:  # each waiting request gets the error instead of hanging forever
            logger.exception("HF rollout batch of %d requests failed", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self.batch_sizes.append(len(batch))
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    # ----------------------------------------------------------------- weights
    async def update_weights(self, named_tensors: list, global_steps: int | None = None) -> int:
        """Copies ``(name, tensor)`` pairs (HF parameter names) into the model; returns how many were set.

        Raises:
            KeyError: naming the first parameter the model does not have.
        """
        self._ensure_batcher()
        state = self.model.state_dict()
        unknown = [name for name, _ in named_tensors if name not in state]
        if unknown:
            raise KeyError(f"HF rollout server: unknown parameter(s) {unknown[:5]} in weight update")

        def copy_all():
            import torch

            with torch.no_grad():
                for name, tensor in named_tensors:
                    state[name].copy_(tensor.to(state[name].dtype))

        async with self._model_lock:
            await asyncio.to_thread(copy_all)
        if global_steps is not None:
            self.global_steps = global_steps
        return len(named_tensors)

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    async def get_batch_sizes(self) -> list[int]:
        return list(self.batch_sizes)

    async def get_server_address(self) -> str:
        return f"hf-replica-{self.replica_rank}"

    # ----------------------------------------------------------------- lifecycle (no-ops for an HF model)
    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self, *args, **kwargs) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def wait_for_requests_to_drain(self, *args, **kwargs) -> None:
        return None

    async def resume_generation(self, *args, **kwargs) -> None:
        return None

    async def resume_engine_generation(self, *args, **kwargs) -> None:
        return None

    async def open_submission_gate(self, *args, **kwargs) -> None:
        return None

    async def start_profile(self, **kwargs) -> None:
        return None

    async def stop_profile(self) -> None:
        return None

    async def abort_all_requests(self, reject_request: bool = False, **kwargs) -> dict:
        """Requests are never aborted: a batch always runs to completion (no partial rollouts)."""
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str, **kwargs) -> dict:
        return {"aborted_count": 0, "request_ids": []}
