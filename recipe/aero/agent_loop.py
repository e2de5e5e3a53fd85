"""Per-prompt explore -> rescue loop inside verl's V1 agent-loop worker (spec section 2, steps 1-3).

verl's ``AgentLoopWorkerTQ._run_prompt`` launches ``rollout.n`` sessions for a prompt and then tags the prompt
``finished`` in TransferQueue. :class:`AeroAgentLoopWorker` replaces that one method: it asks the core planner how
many sessions to run, runs them, reads each session's success from its streamed reward, and asks again, so a
zero-success prompt gets ``n_extra`` more rollouts as soon as its own previous round is scored, without waiting
for any other prompt. Session ids continue across rounds (explore: ``0..n_explore-1``, rescue: the rest), which
is how the sampler tells explore from rescue rollouts. The prompt is tagged ``finished`` only when its group is
final. Validation and the GRPO arm (``algorithm.adv_estimator`` other than ``aero``) run verl's method unchanged.
"""

from __future__ import annotations

import asyncio
import logging

import ray
import transfer_queue as tq
from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopManagerTQ, AgentLoopWorkerTQ

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.rescue import next_round_size
from recipe.aero.success import scored_rollout_success

logger = logging.getLogger(__name__)


class AeroAgentLoopWorker(AgentLoopWorkerTQ.__ray_actor_class__):
    """Agent-loop worker whose training prompts follow AERO's adaptive rollout plan."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        algorithm = self.config.algorithm
        self.adaptive = algorithm.adv_estimator == "aero"
        self.aero = AeroConfig.from_mapping(algorithm.get("aero"))

    async def _run_prompt(self, prompt: dict, sampling_params: dict, trajectory: dict, trace: bool = False) -> None:
        if trajectory["validate"] or not self.adaptive:
            return await super()._run_prompt(prompt, sampling_params, trajectory, trace)

        uid = prompt["uid"]
        await tq.async_kv_put(key=uid, partition_id="train", tag={"status": "running"})
        # Whatever happens below, the prompt ends with a terminal status: a prompt left "running" would make verl's
        # sync sampler wait for ever. Only a loop that ran to its planner's end is "finished"; the sampler removes
        # a "failure" prompt's rows from the update and counts them.
        status = "failure"
        try:
            prompt.pop("__rollout_n__", None)
            prompt.pop("__do_sample__", None)
            n_generated = n_correct = 0
            while (round_size := next_round_size(n_correct, n_generated, self.aero)) > 0:
                sessions = [
                    asyncio.create_task(
                        self._run_agent_loop(
                            dict(sampling_params),
                            trajectory=trajectory,
                            trace=trace,
                            session_id=n_generated + i,
                            **prompt,
                        )
                    )
                    for i in range(round_size)
                ]
                results = await asyncio.gather(*sessions, return_exceptions=True)
                errors = [result for result in results if isinstance(result, BaseException)]
                for error in errors:
                    logger.error(
                        "AERO rollout failed for uid=%s", uid, exc_info=(type(error), error, error.__traceback__)
                    )
                if errors:
                    return
                if not all(isinstance(result, bool) for result in results):
                    raise TypeError(f"AERO rollouts of uid={uid} returned {results!r}, expected one bool per session")
                n_generated += round_size
                n_correct += sum(results)
            status = "finished"
        except Exception:
            logger.exception("AERO rollout loop failed for uid=%s", uid)
        finally:
            await tq.async_kv_put(key=uid, partition_id="train", tag={"status": status})

    async def _agent_loop_postprocess(self, output, validate, **kwargs) -> bool | None:
        """verl's postprocess (score, write to TransferQueue), then the rollout's success for the planner."""
        await super()._agent_loop_postprocess(output, validate, **kwargs)
        if validate or not self.adaptive:
            return None
        final = output[-1] if isinstance(output, list) else output
        reward_extra_info = final.extra_fields.get("reward_extra_info")
        return scored_rollout_success(final.reward_score, reward_extra_info, self.aero)


class AeroAgentLoopManager(AgentLoopManagerTQ):
    """verl's TransferQueue agent-loop manager with :class:`AeroAgentLoopWorker` workers.

    Selected by ``actor_rollout_ref.rollout.agent.agent_loop_manager_class`` in ``aero_trainer.yaml``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent_loop_workers_class = ray.remote(AeroAgentLoopWorker)
