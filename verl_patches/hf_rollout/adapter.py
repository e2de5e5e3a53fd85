"""``HFServerAdapter``: the ``BaseRollout`` that verl's trainer workers hold for ``rollout.name=hf``.

verl's naive checkpoint-engine path (``ActorRolloutRefWorker.update_weights``) calls
``rollout.update_weights(engine.get_per_tensor_param(), ...)`` on every trainer rank. The FSDP2 engine
gathers full tensors inside that generator (collectives), so every rank must drain it; only the first rank
of each rollout replica sends the tensors to its server actor.

Negative-control switch: with env ``AERO_HF_ROLLOUT_SKIP_WEIGHT_SYNC=1`` the adapter drains the weights but
does not send them, so the rollout model stays at its initial weights. Tests use it to show that their
rollout-vs-trainer logprob check can fail; never set it otherwise.
"""

from __future__ import annotations

import logging
import os

import ray
from verl.workers.rollout.base import BaseRollout

from verl_patches.hf_rollout.replica import server_actor_name

logger = logging.getLogger(__name__)

SKIP_WEIGHT_SYNC_ENV = "AERO_HF_ROLLOUT_SKIP_WEIGHT_SYNC"


class HFServerAdapter(BaseRollout):
    """Forwards trainer weight updates to the replica's ``HFRolloutServer``; sleep/wake are no-ops."""

    def __init__(self, config, model_config, device_mesh, *args, **kwargs):
        super().__init__(config, model_config, device_mesh, *args, **kwargs)
        rollout_world_size = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        rank = int(os.environ.get("RANK", "0"))
        self.replica_rank = rank // rollout_world_size
        self.is_replica_leader = rank % rollout_world_size == 0

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    async def update_weights(self, weights, wire_format: str = "named_tensors", global_steps=None, **kwargs):
        """Drains ``weights`` on every rank; the replica leader sends them to its server.

        Raises:
            NotImplementedError: for ``delta_flush`` (only the naive full-tensor path is supported).
        """
        if wire_format != "named_tensors":
            raise NotImplementedError(
                f"HF rollout adapter supports wire_format='named_tensors' only, not {wire_format}"
            )
        named_tensors = [(name, tensor.detach().to("cpu", copy=True)) for name, tensor in weights]
        if not self.is_replica_leader:
            return
        server = ray.get_actor(server_actor_name(self.replica_rank))
        if os.environ.get(SKIP_WEIGHT_SYNC_ENV) == "1":
            logger.warning(
                "%s=1: NOT sending weights to the HF rollout server (negative control)", SKIP_WEIGHT_SYNC_ENV
            )
            await server.set_global_steps.remote(global_steps)
            return
        await server.update_weights.remote(named_tensors, global_steps)
