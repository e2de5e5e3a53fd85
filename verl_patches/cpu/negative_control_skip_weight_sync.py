"""P8 (tests only): a negative control that withholds the trainer's weights from the vLLM rollout server.

The e2e tests check that the rollout's token log-probabilities equal the trainer's after every weight sync
(``training/rollout_probs_diff_max``). To show that this check can fail, a run with env
``AERO_SKIP_ROLLOUT_WEIGHT_SYNC=1`` replaces verl 0.9.1's
``verl.workers.rollout.vllm_rollout.vllm_rollout.ServerAdapter.update_weights`` with one that drains the weight
generator on every rank (the FSDP2 engine gathers full tensors inside it, with collectives every rank must join)
and advances the server's weight version, but sends nothing: vLLM keeps generating with the initial weights.
Without the variable nothing is patched. Never set it outside a test.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType

from verl_patches._import_hooks import when_imported
from verl_patches.version import require_pinned_verl

logger = logging.getLogger(__name__)

SKIP_WEIGHT_SYNC_ENV = "AERO_SKIP_ROLLOUT_WEIGHT_SYNC"
TARGET_MODULE = "verl.workers.rollout.vllm_rollout.vllm_rollout"


def requested() -> bool:
    """True when this process runs the negative control."""
    return os.environ.get(SKIP_WEIGHT_SYNC_ENV) == "1"


def _withhold_weights(vllm_rollout: ModuleType) -> None:
    adapter = vllm_rollout.ServerAdapter

    async def update_weights(self, weights, global_steps=None, wire_format="named_tensors", **kwargs):
        for _ in weights:
            pass
        logger.warning("%s=1: NOT sending weights to the vLLM rollout server (negative control)", SKIP_WEIGHT_SYNC_ENV)
        if global_steps is not None and self._ensure_server_handle():
            await self.server_handle.set_global_steps.remote(global_steps)

    adapter.update_weights = update_weights


def apply() -> None:
    """Installs the control when ``AERO_SKIP_ROLLOUT_WEIGHT_SYNC=1``, as soon as verl imports the adapter."""
    if not requested():
        return
    require_pinned_verl("negative_control_skip_weight_sync")
    when_imported(TARGET_MODULE, _withhold_weights)
