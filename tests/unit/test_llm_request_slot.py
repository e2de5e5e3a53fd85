"""P11 (verl_patches.any_platform.llm_request_slot) on verl's real LLMServerClient: a rollout carrying a RequestSlot
learns the vLLM request id and stop reason of its call; without a slot the client behaves as verl's."""

import asyncio

from omegaconf import OmegaConf
from verl.workers.rollout.llm_server import LLMServerClient
from verl.workers.rollout.replica import TokenOutput

from verl_patches.any_platform import llm_request_slot
from verl_patches.any_platform.llm_request_slot import REQUEST_SLOT, RequestSlot


def _client() -> LLMServerClient:
    llm_request_slot.apply()
    llm_request_slot.apply()  # idempotent: wrapping twice would note twice, harmlessly, but must not stack
    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"full_determinism": False, "name": "vllm"}}})
    return LLMServerClient(config=config, load_balancer_handle=None)


def test_slot_records_the_vllm_request_id_only_inside_a_race_rollout():
    client = _client()
    assert REQUEST_SLOT.get() is None
    outside = client._vllm_request_id("agent-id")
    assert isinstance(outside, str) and outside != "agent-id"  # verl's fresh uuid per call, unchanged

    slot = RequestSlot()
    token = REQUEST_SLOT.set(slot)
    try:
        inside = client._vllm_request_id("agent-id")
    finally:
        REQUEST_SLOT.reset(token)
    assert slot.request_id == inside != outside


def test_slot_records_server_and_stop_reason_of_a_generate_call(monkeypatch):
    client = _client()

    class _Server:  # a vLLM server handle whose generate was aborted after two tokens
        class generate:  # noqa: N801 - mirrors a Ray actor method
            @staticmethod
            async def remote(**kwargs):
                return TokenOutput(token_ids=[1, 2], stop_reason="aborted", extra_fields={})

    server = _Server()

    async def acquire_from_the_load_balancer(self, request_id, **extra):
        return "server-0", server

    # The load balancer is a Ray actor; stand in for it under P11's wrapper, as apply() wraps verl's method.
    monkeypatch.setattr(
        LLMServerClient, "_acquire_server", llm_request_slot._noting_acquire(acquire_from_the_load_balancer)
    )
    monkeypatch.setattr(client, "_release_server", lambda server_id, request_id=None: None)
    slot = RequestSlot()

    async def one_rollout():
        REQUEST_SLOT.set(slot)  # this task's own context, as the race gives each rollout
        return await client.generate("agent-id", prompt_ids=[0], sampling_params={})

    output = asyncio.run(one_rollout())
    assert output.token_ids == [1, 2]
    assert slot.server is server and slot.stop_reason == "aborted" and slot.request_id is not None
    assert REQUEST_SLOT.get() is None  # the rollout's slot stayed in its own task
