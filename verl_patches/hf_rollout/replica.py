"""``HFReplica``: the ``RolloutReplica`` for ``rollout.name=hf``; launches one ``HFRolloutServer`` actor.

In verl's hybrid (colocated) mode the base class's ``init_hybrid`` assigns trainer workers to the replica
and calls ``launch_servers``; the server here is a separate CPU-only Ray actor holding its own copy of the
model, which the trainer workers update through ``HFServerAdapter.update_weights``.
"""

from __future__ import annotations

import ray
from verl.workers.rollout.replica import RolloutReplica

from verl_patches.hf_rollout.server import HFRolloutServer


def server_actor_name(replica_rank: int, name_suffix: str = "") -> str:
    """Ray actor name of a replica's server; the adapter looks it up by this name."""
    return f"hf_server_{replica_rank}{name_suffix}_0"


class HFReplica(RolloutReplica):
    """One HF-``generate`` server per replica; needs no accelerator."""

    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self):
        server_cls = ray.remote(HFRolloutServer)
        server = server_cls.options(
            name=server_actor_name(self.replica_rank, self.name_suffix),
            num_cpus=0,
            max_concurrency=self.max_concurrency,
        ).remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        self.servers = [server]
        self._server_handle = server
        self._server_address = await server.get_server_address.remote()
