"""P6: makes ``actor_rollout_ref.rollout.name=hf`` select the HF-``generate`` rollout replica.

verl 0.9.1 has two rollout registries that only know vllm/sglang/trtllm:
``verl.workers.rollout.replica.RolloutReplicaRegistry`` (the server-side replica the agent loop talks to)
and the module dict ``verl.workers.rollout.base._ROLLOUT_REGISTRY`` (the in-trainer ``BaseRollout``
adapter, looked up by ``get_rollout_class(name, "async")``, that receives weight updates). This adds
``"hf"`` to both, when verl first imports each module, pointing at ``verl_patches.hf_rollout``.
"""

from __future__ import annotations

from types import ModuleType

from verl_patches._import_hooks import when_imported
from verl_patches.version import require_pinned_verl

ROLLOUT_NAME = "hf"
ADAPTER_FQN = "verl_patches.hf_rollout.adapter.HFServerAdapter"


def _load_hf_replica():
    from verl_patches.hf_rollout.replica import HFReplica

    return HFReplica


def _register_replica(replica_module: ModuleType) -> None:
    replica_module.RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_hf_replica)


def _register_adapter(base_module: ModuleType) -> None:
    base_module._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = ADAPTER_FQN


def apply() -> None:
    """Registers the hf replica and adapter as soon as verl imports the registries."""
    require_pinned_verl("hf_rollout_registration")
    when_imported("verl.workers.rollout.replica", _register_replica)
    when_imported("verl.workers.rollout.base", _register_adapter)
