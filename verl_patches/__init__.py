"""Small, version-checked changes to verl 0.9.1's runtime behaviour, one module per patch.

Each patch module names the upstream symbol it replaces and why, and refuses to apply on any verl
other than the pinned version (see :func:`verl_patches.version.require_pinned_verl`).

CPU support (applied by :mod:`verl_patches.plugin` only when ``VERL_PLATFORM=cpu``; a no-op otherwise):

* P1 :mod:`.cpu_platform`: ``PlatformRegistry`` gains ``"cpu"`` (gloo, Ray resource "GPU").
* P2 :mod:`.cpu_device`: the ``torch.cuda`` stand-in that platform returns from ``get_torch_device()``.
* P3 :mod:`.gloo_process_group`: verl's ``"cpu:gloo,cpu:gloo"`` backend string becomes ``"gloo"``.
* P4 :mod:`.cpu_engine_registry`: the FSDP/FSDP2 engines are registered for device ``"cpu"``.
* P5 :mod:`.cpu_offload_no_pin`: forward-only FSDP2 offload without ``pin_memory``.
* P6 :mod:`.hf_rollout_registration`: ``rollout.name=hf`` selects :mod:`.hf_rollout` (batched HF generate).

P4-P6 are applied when verl first imports the target module (:mod:`._import_hooks`), so ``import verl``
stays light and nothing resolves the platform before P1 has registered it.
"""
