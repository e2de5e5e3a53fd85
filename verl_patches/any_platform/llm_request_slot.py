"""P11 (opt-in, any platform): note which vLLM request a rollout is waiting on, so a rescue race can abort it.

AERO's rescue race (``algorithm.aero.rescue_race``, DESIGN.md §2.3) launches a prompt's remaining budget at once
and aborts the still-running siblings at the first success. verl 0.9.1 has the abort
(``vLLMHttpServer.abort_request(request_id)``), but the id it needs is made inside
``verl.workers.rollout.llm_server.LLMServerClient.generate`` (a fresh uuid per call, ``_vllm_request_id``), on a
server chosen there (``_acquire_server``), and the agent loop never sees either. This wraps those two methods and
``generate`` itself so that, when the calling asyncio task carries a :class:`RequestSlot` in :data:`REQUEST_SLOT`,
the slot records the server handle, the vLLM request id and the finished call's ``stop_reason`` (``"aborted"`` for
an aborted request). The wrappers only observe: arguments, return values and errors are verl's, and without a slot
in the context they do nothing else. Applied by the AERO agent-loop worker when the race is on.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
from typing import Any

from verl_patches.version import require_pinned_verl


@dataclasses.dataclass
class RequestSlot:
    """What one rollout's latest generate call went to; filled by the wrappers, read by the race.

    Attributes:
        server: the Ray handle of the vLLM server the request went to (None until chosen).
        request_id: the id vLLM knows the request by (None until issued).
        stop_reason: verl's ``TokenOutput.stop_reason`` of the finished call (``"completed"``, ``"aborted"``, ...).
    """

    server: Any = None
    request_id: str | None = None
    stop_reason: str | None = None


REQUEST_SLOT: contextvars.ContextVar[RequestSlot | None] = contextvars.ContextVar("aero_request_slot", default=None)


def _noting_acquire(acquire):
    @functools.wraps(acquire)
    async def _acquire_server(self, request_id, **extra):
        server_id, server = await acquire(self, request_id, **extra)
        if (slot := REQUEST_SLOT.get()) is not None:
            slot.server = server
        return server_id, server

    return _acquire_server


def _noting_request_id(make_id):
    @functools.wraps(make_id)
    def _vllm_request_id(self, request_id):
        vllm_id = make_id(self, request_id)
        if (slot := REQUEST_SLOT.get()) is not None:
            slot.request_id = vllm_id
        return vllm_id

    return _vllm_request_id


def _noting_stop_reason(generate):
    @functools.wraps(generate)
    async def generate_and_note(self, request_id, **kwargs):
        output = await generate(self, request_id, **kwargs)
        if (slot := REQUEST_SLOT.get()) is not None:
            slot.stop_reason = getattr(output, "stop_reason", None)
        return output

    return generate_and_note


def apply() -> None:
    """Wraps ``LLMServerClient._acquire_server``, ``_vllm_request_id`` and ``generate``; idempotent."""
    require_pinned_verl("llm_request_slot")
    from verl.workers.rollout.llm_server import LLMServerClient

    if getattr(LLMServerClient.generate, "_aero_request_slot", False):
        return
    LLMServerClient._acquire_server = _noting_acquire(LLMServerClient._acquire_server)
    LLMServerClient._vllm_request_id = _noting_request_id(LLMServerClient._vllm_request_id)
    LLMServerClient.generate = _noting_stop_reason(LLMServerClient.generate)
    LLMServerClient.generate._aero_request_slot = True
