"""Per-prompt explore -> rescue loop inside verl's V1 agent-loop worker (DESIGN.md §2.1-2.3).

verl's ``AgentLoopWorkerTQ._run_prompt`` launches ``rollout.n`` sessions for a prompt and then tags the prompt
``finished`` in TransferQueue. :class:`AeroAgentLoopWorker` replaces that one method: it asks the core planner how
many sessions to run, runs them, reads each session's success from its streamed reward, and asks again, so a
zero-success prompt gets ``n_extra`` more rollouts as soon as its own previous round is scored, without waiting
for any other prompt. Session ids continue across rounds; each training rollout records its round and generation
times in ``extra_fields["aero_timing"]`` (both arms), which is how the sampler tells explore from rescue rollouts
and splits the step's generation time. A prompt's first round is ``n_explore`` unless the trainer sent a
posterior-guided size in ``aero_first_round``. The prompt is tagged ``finished`` only when its group is final.
With ``rescue_race`` a rescue round is a race (DESIGN.md §2.3): the remaining budget at once, and at the first
success every sibling still generating is aborted through verl's ``abort_request``. An aborted rollout is never
scored nor written to TransferQueue (it may hold no token at all, which verl's postprocess cannot take); the
prompt's terminal tag lists it (``ABORTED_TAG``: session, prompt and response tokens) for the sampler to count.
Validation and arms with fixed rollouts (the GRPO baseline, ``algorithm.aero.rollout=fixed``) run verl's loop
unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import time

import ray
import transfer_queue as tq
from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopManagerTQ, AgentLoopWorkerTQ

from recipe.aero.core.config import AeroConfig, Arm
from recipe.aero.core.rescue import next_round_size
from recipe.aero.success import scored_rollout_success
from verl_patches import llm_request_slot
from verl_patches.llm_request_slot import REQUEST_SLOT, RequestSlot

logger = logging.getLogger(__name__)

# Per-prompt first-round size the trainer may add to a training prompt (posterior-guided exploration, DESIGN.md §2.1).
FIRST_ROUND_COLUMN = "aero_first_round"
# Each rollout runs in its own asyncio task, which copies these at creation: the round its prompt was in when the
# task was created, and when its generation started. Written to the rollout's extra_fields["aero_timing"].
_ROUND = contextvars.ContextVar("aero_round", default=0)
_STARTED_AT = contextvars.ContextVar("aero_started_at", default=None)
# The prompt's terminal TransferQueue tag lists its aborted race siblings under this key, as
# [session, prompt_tokens, response_tokens] triples (the sampler counts them; they have no row).
ABORTED_TAG = "aero_aborted"
# Seconds between abort attempts for a sibling whose request vLLM does not know yet (issued, not yet received).
ABORT_RETRY_S = 0.02


@dataclasses.dataclass(frozen=True)
class AbortedRollout:
    """What a race sibling aborted at its prompt's first success returns instead of its success (unknown)."""

    session: int
    prompt_tokens: int
    response_tokens: int


class AeroAgentLoopWorker(AgentLoopWorkerTQ.__ray_actor_class__):
    """Agent-loop worker whose training prompts follow AERO's adaptive rollout plan."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        algorithm = self.config.algorithm
        self.aero = AeroConfig.from_mapping(algorithm.get("aero"))
        self.adaptive = Arm.of(algorithm.adv_estimator, self.aero).adaptive_rollout
        if self.adaptive and self.aero.rescue_race:
            llm_request_slot.apply()

    async def _run_prompt(self, prompt: dict, sampling_params: dict, trajectory: dict, trace: bool = False) -> None:
        if trajectory["validate"] or not self.adaptive:
            return await super()._run_prompt(prompt, sampling_params, trajectory, trace)

        uid = prompt["uid"]
        await tq.async_kv_put(key=uid, partition_id="train", tag={"status": "running"})
        # Whatever happens below, the prompt ends with a terminal status: a prompt left "running" would make verl's
        # sync sampler wait for ever. Only a loop that ran to its planner's end is "finished"; the sampler removes
        # a "failure" prompt's rows from the update and counts them.
        status = "failure"
        aborted: list[AbortedRollout] = []
        try:
            prompt.pop("__rollout_n__", None)
            prompt.pop("__do_sample__", None)
            first_round = prompt.pop(FIRST_ROUND_COLUMN, None)
            first_round = None if first_round is None else int(first_round)
            n_generated = n_correct = 0
            round_index = 0
            while (round_size := next_round_size(n_correct, n_generated, self.aero, first_round)) > 0:
                _ROUND.set(round_index)
                race = self.aero.rescue_race and round_index > 0
                slots = [RequestSlot() if race else None for _ in range(round_size)]
                sessions = []
                for i, slot in enumerate(slots):
                    token = REQUEST_SLOT.set(slot)  # the task copies the context now: its own slot
                    sessions.append(
                        asyncio.create_task(
                            self._run_agent_loop(
                                dict(sampling_params),
                                trajectory=trajectory,
                                trace=trace,
                                session_id=n_generated + len(aborted) + i,
                                **prompt,
                            )
                        )
                    )
                    REQUEST_SLOT.reset(token)
                if race:
                    await _abort_siblings_at_first_success(sessions, slots)
                results = await asyncio.gather(*sessions, return_exceptions=True)
                errors = [result for result in results if isinstance(result, BaseException)]
                for error in errors:
                    logger.error(
                        "AERO rollout failed for uid=%s", uid, exc_info=(type(error), error, error.__traceback__)
                    )
                if errors:
                    return
                if not all(isinstance(r, bool) or (race and isinstance(r, AbortedRollout)) for r in results):
                    raise TypeError(f"AERO rollouts of uid={uid} returned {results!r}, expected one bool per session")
                aborted_now = [result for result in results if isinstance(result, AbortedRollout)]
                aborted += aborted_now
                n_generated += round_size - len(aborted_now)
                n_correct += sum(result is True for result in results)
                round_index += 1
            status = "finished"
        except Exception:
            logger.exception("AERO rollout loop failed for uid=%s", uid)
        finally:
            tag = {"status": status}
            if aborted:
                tag[ABORTED_TAG] = [[a.session, a.prompt_tokens, a.response_tokens] for a in aborted]
            await tq.async_kv_put(key=uid, partition_id="train", tag=tag)

    async def _run_agent_loop(self, *args, **kwargs):
        """verl's rollout, with its start time noted for the generation split (``core/timing.py``)."""
        _STARTED_AT.set(time.time())
        return await super()._run_agent_loop(*args, **kwargs)

    async def _agent_loop_postprocess(self, output, validate, **kwargs) -> bool | None:
        """verl's postprocess (score, write to TransferQueue), then the rollout's success for the planner.

        Training rollouts of both arms carry ``extra_fields["aero_timing"]``: their round (0 = the prompt's first)
        and when their generation started and finished. A race sibling that was aborted skips verl's postprocess
        (no reward call, no TransferQueue row) and returns an :class:`AbortedRollout`.
        """
        outputs = output if isinstance(output, list) else [output]
        slot = REQUEST_SLOT.get()
        if not validate and slot is not None and slot.stop_reason == "aborted":
            return AbortedRollout(
                session=int(kwargs["session_id"]),
                prompt_tokens=len(outputs[0].prompt_ids),
                response_tokens=sum(len(each.response_ids) for each in outputs),
            )
        if not validate:
            timing = {"round": _ROUND.get(), "started_at": _STARTED_AT.get(), "finished_at": time.time()}
            for each in outputs:
                each.extra_fields["aero_timing"] = timing
        await super()._agent_loop_postprocess(output, validate, **kwargs)
        if validate or not self.adaptive:
            return None
        final = outputs[-1]
        reward_extra_info = final.extra_fields.get("reward_extra_info")
        return scored_rollout_success(final.reward_score, reward_extra_info, self.aero)


async def _abort_siblings_at_first_success(sessions: list[asyncio.Task], slots: list[RequestSlot]) -> None:
    """Waits until one race rollout succeeds (or all end), then aborts every sibling still generating.

    A sibling is aborted through the vLLM server its request went to (``RequestSlot``, filled by verl_patches P11).
    One whose request has not reached vLLM yet ("not found") is tried again every ``ABORT_RETRY_S`` until vLLM
    aborts it or its generation ends by itself; one that ends by itself is an ordinary rollout.
    """
    pending = set(sessions)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if any(not task.cancelled() and task.exception() is None and task.result() is True for task in done):
            break
    await asyncio.gather(*(_abort(task, slot) for task, slot in zip(sessions, slots, strict=True) if task in pending))


async def _abort(task: asyncio.Task, slot: RequestSlot) -> None:
    while not task.done() and slot.stop_reason is None:  # a request that has ended cannot be aborted
        if slot.server is not None and slot.request_id is not None:
            reply = await slot.server.abort_request.remote(slot.request_id, reset_prefix_cache=False)
            if reply.get("aborted"):
                return
        await asyncio.sleep(ABORT_RETRY_S)


class AeroAgentLoopManager(AgentLoopManagerTQ):
    """verl's TransferQueue agent-loop manager with :class:`AeroAgentLoopWorker` workers.

    Selected by ``actor_rollout_ref.rollout.agent.agent_loop_manager_class`` in ``aero_trainer.yaml``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent_loop_workers_class = ray.remote(AeroAgentLoopWorker)
