"""Small, version-checked changes to verl 0.9.1's (and vLLM's) runtime behaviour, one module each.

Each patch module names the upstream symbol it replaces and why, and refuses to apply on any verl other than the
pinned version (:func:`verl_patches.version.require_pinned_verl`); patches of vLLM symbols also refuse any vLLM whose
source they were not checked against. The subpackage says where a patch runs:

* :mod:`verl_patches.any_platform`: what a GPU run applies too, each only when the recipe's opt-in rescue race
  (``algorithm.aero.rescue_race``) is on: P10 (verl's per-request abort reaches vLLM's request) and P11 (a race
  rollout notes its vLLM request).
* :mod:`verl_patches.cpu`: what runs verl and vLLM's CPU build on CPU (P1-P9), only with ``VERL_PLATFORM=cpu``.

Entry points: :mod:`verl_patches.plugin` (verl's ``verl.plugins``, loaded by ``import verl`` in every process) and
:mod:`verl_patches.vllm_plugin` (vLLM's ``vllm.general_plugins``, loaded in every process vLLM starts). Patches of
symbols in heavy modules are applied when verl or vLLM first imports them (:mod:`._import_hooks`), so ``import verl``
stays light and nothing resolves the platform before P1 has registered it.
"""
