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
prompt's terminal tag lists it (``ABORTED_TAG``: session, prompt and response tokens) for the sampler to count. A
sibling whose abort does not land within ``ABORT_MAX_ATTEMPTS`` calls runs to its end as an ordinary rollout and is
listed under ``ABORT_FAILED_TAG``.
Every reward call is awaited under ``trainer.v1.aero.reward_timeout_s`` (verl's has no deadline); a miss fails the
rollout like an engine error, and a prompt's terminal status is published only once every session of its last round
has ended, on the error paths too (DESIGN.md §2.10).
Validation and arms with fixed rollouts (the GRPO baseline, ``algorithm.aero.rollout=fixed``) run verl's loop,
unchanged but for the reward deadline.
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

from recipe.aero.core.config import AeroConfig, AeroTrainerConfig, Arm
from recipe.aero.core.rescue import next_round_size
from recipe.aero.success import scored_rollout_success
from verl_patches.any_platform import llm_request_slot
from verl_patches.any_platform.llm_request_slot import REQUEST_SLOT, RequestSlot

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
# A prompt whose loop failed gets, in its terminal tag, what failed: "<ExceptionType>: <message>" of the first error
# (a reward that raises, an engine error), so the trainer can name the cause when a step has nothing to train.
FAILURE_TAG = "aero_failure"
# The prompt's terminal tag lists, under this key, the race siblings whose abort never landed (their sessions): each
# ran on to its end as an ordinary rollout. The sampler counts them (aero/race/abort_failed).
ABORT_FAILED_TAG = "aero_abort_failed"
# Seconds between abort attempts for a sibling whose request vLLM does not know yet (issued, not yet received).
ABORT_RETRY_S = 0.02
# Abort calls per race sibling before it is left to run to its end and counted under ABORT_FAILED_TAG: a request on
# its way to vLLM is found within a few (>= 2 s of them at ABORT_RETRY_S), while an abort that cannot work (a vLLM
# whose ids verl_patches P10 cannot read) costs a bounded number of calls instead of one per ABORT_RETRY_S for the
# sibling's whole generation.
ABORT_MAX_ATTEMPTS = 100


class RewardTimeoutError(TimeoutError):
    """A reward call that missed ``trainer.v1.aero.reward_timeout_s``; fails its rollout (DESIGN.md §2.10)."""


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
        self.trainer_aero = AeroTrainerConfig.from_mapping(self.config.trainer.v1.get("aero"))
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
        abort_failed: list[int] = []  # sessions of race siblings whose abort never landed
        # The round's sessions until they are gathered. An error before that (an abort that raises mid-race) must not
        # publish the terminal status while they still generate: rows they wrote after it would reach a group the
        # sampler has already judged (verl's own loop, too, publishes only after every session has ended).
        unsettled: list[asyncio.Task] = []
        failure: BaseException | None = None
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
                session_ids = [n_generated + len(aborted) + i for i in range(round_size)]
                unsettled = sessions = []
                for session_id, slot in zip(session_ids, slots, strict=True):
                    token = REQUEST_SLOT.set(slot)  # the task copies the context now: its own slot
                    sessions.append(
                        asyncio.create_task(
                            self._run_agent_loop(
                                dict(sampling_params),
                                trajectory=trajectory,
                                trace=trace,
                                session_id=session_id,
                                **prompt,
                            )
                        )
                    )
                    REQUEST_SLOT.reset(token)
                if race:
                    missed = await _abort_siblings_at_first_success(sessions, slots)
                    abort_failed += [session_ids[i] for i in missed]
                results = await asyncio.gather(*sessions, return_exceptions=True)
                unsettled = []
                errors = _log_session_errors(uid, results)
                if errors:
                    failure = errors[0]
                    return
                if not all(isinstance(r, bool) or (race and isinstance(r, AbortedRollout)) for r in results):
                    raise TypeError(f"AERO rollouts of uid={uid} returned {results!r}, expected one bool per session")
                aborted_now = [result for result in results if isinstance(result, AbortedRollout)]
                aborted += aborted_now
                n_generated += round_size - len(aborted_now)
                n_correct += sum(result is True for result in results)
                round_index += 1
            status = "finished"
        except Exception as error:
            failure = error
            logger.exception("AERO rollout loop failed for uid=%s", uid)
        finally:
            # Awaited, not cancelled: a session cancelled while its row is on its way to TransferQueue could still
            # land it after the terminal status. Empty unless the loop broke off mid-round.
            _log_session_errors(uid, await asyncio.gather(*unsettled, return_exceptions=True))
            tag = {"status": status}
            if status == "failure":
                tag[FAILURE_TAG] = failure_cause(failure)
            if aborted:
                tag[ABORTED_TAG] = [[a.session, a.prompt_tokens, a.response_tokens] for a in aborted]
            if abort_failed:
                tag[ABORT_FAILED_TAG] = abort_failed
            await tq.async_kv_put(key=uid, partition_id="train", tag=tag)

    async def _run_agent_loop(self, *args, **kwargs):
        """verl's rollout, with its start time noted for the generation split (``core/timing.py``)."""
        _STARTED_AT.set(time.time())
        return await super()._run_agent_loop(*args, **kwargs)

    async def _compute_score(self, outputs, kwargs: dict) -> None:
        """verl's reward call (to a reward-loop worker), under ``trainer.v1.aero.reward_timeout_s``.

        verl awaits the reward worker without a deadline, so a custom reward that hangs would keep its prompt
        ``running`` and the step waiting for ever. A miss raises :class:`RewardTimeoutError` out of the rollout: both
        AERO's loop and verl's (validation, fixed-rollout arms) then end the prompt as ``failure`` and log the error
        with the prompt's uid and the deadline. The reward worker's call is not stopped (a synchronous reward runs in
        a thread that cannot be); its late result is dropped.
        """
        deadline = self.trainer_aero.reward_timeout_s
        try:
            async with asyncio.timeout(deadline) as timer:
                await super()._compute_score(outputs, kwargs=kwargs)
        except TimeoutError:
            if not timer.expired():  # the reward's own TimeoutError, raised through the reward worker
                raise
            raise RewardTimeoutError(
                f"reward of uid={kwargs.get('uid')} session={kwargs.get('session_id')} "
                f"(data_source={kwargs.get('data_source')}, index={kwargs.get('index')}) gave no score within "
                f"trainer.v1.aero.reward_timeout_s={deadline} s"
            ) from None

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


def failure_cause(error: BaseException | None) -> str:
    """``"<ExceptionType>: <message>"`` of what made a prompt fail, for its terminal tag (first line, <= 300 chars).

    A reward or engine error raised in another Ray actor arrives wrapped (``RayTaskError``); its ``cause`` is the
    user's own exception, which is what the user needs to read.
    """
    if error is None:
        return "unknown (the loop ended without finishing its planner's rounds)"
    while getattr(error, "cause", None) is not None and error.cause is not error:
        error = error.cause
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}"[:300]


def _log_session_errors(uid: str, results: list) -> list[BaseException]:
    """Logs every exception among a round's gathered session results and returns them."""
    errors = [result for result in results if isinstance(result, BaseException)]
    for error in errors:
        logger.error("AERO rollout failed for uid=%s", uid, exc_info=(type(error), error, error.__traceback__))
    return errors


async def _abort_siblings_at_first_success(sessions: list[asyncio.Task], slots: list[RequestSlot]) -> list[int]:
    """Waits until one race rollout succeeds (or all end), then aborts every sibling still generating.

    A sibling is aborted through the vLLM server its request went to (``RequestSlot``, filled by verl_patches P11).
    One whose request has not reached vLLM yet ("not found") is tried again every ``ABORT_RETRY_S``, at most
    ``ABORT_MAX_ATTEMPTS`` times, until vLLM aborts it or its generation ends by itself; one that ends by itself is an
    ordinary rollout, and so is one whose attempts ran out (it runs to its end).

    Returns:
        The positions in ``sessions`` of the siblings whose attempts ran out.
    """
    pending = set(sessions)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if any(not task.cancelled() and task.exception() is None and task.result() is True for task in done):
            break
    running = [i for i, task in enumerate(sessions) if task in pending]
    landed = await asyncio.gather(*(_abort(sessions[i], slots[i]) for i in running))
    return [i for i, ok in zip(running, landed, strict=True) if not ok]


async def _abort(task: asyncio.Task, slot: RequestSlot) -> bool:
    """False when ``ABORT_MAX_ATTEMPTS`` abort calls did not find the sibling's request still running."""
    attempts = 0
    while not task.done() and slot.stop_reason is None:  # a request that has ended cannot be aborted
        if slot.server is not None and slot.request_id is not None:
            reply = await slot.server.abort_request.remote(slot.request_id, reset_prefix_cache=False)
            attempts += 1
            if reply.get("aborted"):
                return True
            if attempts == ABORT_MAX_ATTEMPTS:
                return False
        await asyncio.sleep(ABORT_RETRY_S)
    return True


class AeroAgentLoopManager(AgentLoopManagerTQ):
    """verl's TransferQueue agent-loop manager with :class:`AeroAgentLoopWorker` workers.

    Selected by ``actor_rollout_ref.rollout.agent.agent_loop_manager_class`` in ``aero_trainer.yaml``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.agent_loop_workers_class = ray.remote(AeroAgentLoopWorker)
