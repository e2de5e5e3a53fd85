"""AeroAgentLoopWorker._run_prompt against a fake agent loop and a stand-in TransferQueue: the prompt always ends
with a terminal status (never left ``running``, which would make verl's sync sampler wait for ever), only a loop
that ran to its planner's end is ``finished``, a reward call that hangs fails its prompt at
``trainer.v1.aero.reward_timeout_s``, and no rollout writes a row after its prompt's terminal status."""

import asyncio
import logging

import pytest
import transfer_queue
from omegaconf import OmegaConf
from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput, AgentLoopWorker

from recipe.aero import agent_loop
from recipe.aero.agent_loop import FAILURE_TAG, AeroAgentLoopWorker, RewardTimeoutError
from recipe.aero.core.config import AeroConfig, AeroTrainerConfig


def _worker(outcomes, monkeypatch, cfg=None):
    """A worker whose sessions return ``outcomes(session_id)`` (a bool, or an exception to raise)."""
    statuses: list[str] = []

    async def kv_put(key, partition_id, tag):
        statuses.append(tag["status"])
        worker.last_tag = tag

    monkeypatch.setattr(transfer_queue, "async_kv_put", kv_put)
    worker = object.__new__(AeroAgentLoopWorker)
    worker.adaptive = True
    worker.aero = cfg or AeroConfig(n_explore=2, budget=6, n_extra=2)
    sessions: list[int] = []

    async def run_agent_loop(sampling_params, *, trajectory, trace, session_id, **prompt):
        sessions.append(session_id)
        outcome = outcomes(session_id)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    worker._run_agent_loop = run_agent_loop
    return worker, statuses, sessions


def _run(worker):
    asyncio.run(worker._run_prompt({"uid": "u"}, {}, {"validate": False}))


def test_rescue_until_first_success_then_finished(monkeypatch):
    # Budget 12 would allow rounds up to session 11; the first success (session 4, second rescue round) stops them.
    worker, statuses, sessions = _worker(lambda s: s == 4, monkeypatch, AeroConfig(n_explore=2, budget=12, n_extra=2))
    _run(worker)
    assert statuses == ["running", "finished"] and sessions == [0, 1, 2, 3, 4, 5]


def test_rescue_without_success_exhausts_the_budget_exactly(monkeypatch):
    worker, statuses, sessions = _worker(lambda s: False, monkeypatch, AeroConfig(n_explore=2, budget=7, n_extra=2))
    _run(worker)
    assert statuses == ["running", "finished"] and sessions == list(range(7))  # last round: 1, the budget's rest


def test_session_error_ends_the_prompt_as_failure_without_more_rounds(monkeypatch):
    worker, statuses, sessions = _worker(lambda s: RuntimeError("engine died") if s == 3 else False, monkeypatch)
    _run(worker)
    assert statuses == ["running", "failure"] and sessions == [0, 1, 2, 3]
    assert worker.last_tag[FAILURE_TAG] == "RuntimeError: engine died"  # the sampler names the cause from it


def test_a_wrapped_error_is_tagged_with_its_cause(monkeypatch):
    """A reward raising in another Ray actor arrives wrapped; the tag names the user's own exception."""

    class Wrapped(Exception):
        def __init__(self, cause):
            super().__init__("RayTaskError(...): traceback text\nmore lines")
            self.cause = cause

    worker, _, _ = _worker(lambda s: Wrapped(KeyError("ground_truth")) if s == 0 else False, monkeypatch)
    _run(worker)
    assert worker.last_tag[FAILURE_TAG] == "KeyError: 'ground_truth'"


def test_a_finished_prompt_has_no_failure_tag(monkeypatch):
    worker, _, _ = _worker(lambda s: True, monkeypatch)
    _run(worker)
    assert worker.last_tag == {"status": "finished"}


def test_planner_error_after_a_round_publishes_failure(monkeypatch, caplog):
    calls = []
    real_planner = agent_loop.next_round_size

    def planner(*args, **kwargs):  # the real planner's first answer, whatever arguments _run_prompt passes
        calls.append(args[:2])
        if len(calls) > 1:
            raise ValueError("planner broke")
        return real_planner(*args, **kwargs)

    monkeypatch.setattr(agent_loop, "next_round_size", planner)
    worker, statuses, sessions = _worker(lambda s: False, monkeypatch)
    with caplog.at_level(logging.ERROR, logger=agent_loop.__name__):
        _run(worker)
    assert calls == [(0, 0), (0, 2)] and sessions == [0, 1]  # one round ran, then the planner raised
    assert statuses == ["running", "failure"]
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.getMessage() == "AERO rollout loop failed for uid=u" and str(record.exc_info[1]) == "planner broke"
    assert worker.last_tag[FAILURE_TAG] == "ValueError: planner broke"


def test_unexpected_session_return_publishes_failure(monkeypatch):
    worker, statuses, _ = _worker(lambda s: None, monkeypatch)
    _run(worker)
    assert statuses == ["running", "failure"]


class _FakeServer:
    """Aborts a session's stand-in request when asked, as verl's ``vLLMHttpServer.abort_request`` would."""

    def __init__(self):
        self.running: dict[str, asyncio.Event] = {}
        self.abort_calls: list[str] = []

        class _Method:
            async def remote(_, request_id, reset_prefix_cache=True):
                self.abort_calls.append(request_id)
                if request_id not in self.running:
                    return {"aborted": False, "error": f"Request {request_id} not found"}
                self.running.pop(request_id).set()
                return {"aborted": True, "request_id": request_id}

        self.abort_request = _Method()


def test_race_aborts_running_siblings_at_the_first_success_and_counts_them(monkeypatch):
    # Explore sessions 0-1 fail; the race (sessions 2-5, the rest of budget 6) has 2 ending by itself with a
    # failure, 3 succeeding, 4 generating until aborted and 5 reaching the server only late (the abort must retry).
    server = _FakeServer()
    plan = {2: ("fail", 0.01, 0.0), 3: ("success", 0.05, 0.0), 4: ("long", None, 0.0), 5: ("long", None, 0.15)}
    worker, statuses, sessions = _worker(lambda s: False, monkeypatch)
    worker.aero = AeroConfig(n_explore=2, budget=6, n_extra=2, rescue_race=True)
    ended: dict[int, object] = {}

    async def run_agent_loop(sampling_params, *, trajectory, trace, session_id, **prompt):
        sessions.append(session_id)
        if session_id not in plan:
            ended[session_id] = False
            return False
        kind, duration, received_after = plan[session_id]
        slot = agent_loop.REQUEST_SLOT.get()
        assert slot is not None, "a race session must carry its own request slot"
        slot.server, slot.request_id = server, f"req-{session_id}"  # issued: the id is known before vLLM has it
        await asyncio.sleep(received_after)
        done = server.running[slot.request_id] = asyncio.Event()
        try:
            await asyncio.wait_for(done.wait(), timeout=duration if duration is not None else 5.0)
            # The postprocess of an aborted request returns what it had generated.
            ended[session_id] = agent_loop.AbortedRollout(session_id, prompt_tokens=3, response_tokens=session_id - 4)
        except TimeoutError:
            server.running.pop(slot.request_id, None)
            ended[session_id] = kind == "success"
        return ended[session_id]

    worker._run_agent_loop = run_agent_loop
    _run(worker)

    assert statuses == ["running", "finished"]
    assert sessions == [0, 1, 2, 3, 4, 5]  # one race round of the remaining budget, nothing beyond it
    assert [session for session, outcome in ended.items() if isinstance(outcome, agent_loop.AbortedRollout)] == [4, 5]
    assert {session: ended[session] for session in range(4)} == {0: False, 1: False, 2: False, 3: True}
    # The terminal tag lists the aborted siblings for the sampler: session, prompt tokens, response tokens.
    assert worker.last_tag == {"status": "finished", agent_loop.ABORTED_TAG: [[4, 3, 0], [5, 3, 1]]}
    assert "req-2" not in server.abort_calls and "req-3" not in server.abort_calls
    assert server.abort_calls.count("req-4") == 1 and server.abort_calls.count("req-5") > 1  # 5: "not found" first


def test_race_abort_that_never_lands_is_bounded_and_tagged(monkeypatch):
    # Explore sessions 0-1 fail; in the race (sessions 2-5) session 2 succeeds at once while 3-5 keep generating.
    # The server never finds their requests (a vLLM whose ids P10 cannot read): each sibling gets ABORT_MAX_ATTEMPTS
    # abort calls, then runs to its end as an ordinary rollout, and the terminal tag lists it for the sampler.
    monkeypatch.setattr(agent_loop, "ABORT_MAX_ATTEMPTS", 3)
    monkeypatch.setattr(agent_loop, "ABORT_RETRY_S", 0.001)
    calls: list[str] = []

    class _DeafServer:
        class abort_request:  # noqa: N801 - mirrors a Ray actor method
            @staticmethod
            async def remote(request_id, reset_prefix_cache=True):
                calls.append(request_id)
                return {"aborted": False, "error": f"Request {request_id} not found"}

    worker, statuses, sessions = _worker(lambda s: False, monkeypatch)
    worker.aero = AeroConfig(n_explore=2, budget=6, n_extra=2, rescue_race=True)

    async def run_agent_loop(sampling_params, *, trajectory, trace, session_id, **prompt):
        sessions.append(session_id)
        slot = agent_loop.REQUEST_SLOT.get()
        if slot is None:  # exploration
            return False
        slot.server, slot.request_id = _DeafServer(), f"req-{session_id}"
        if session_id == 2:
            return True
        await asyncio.sleep(0.3)  # a whole generation: ~300 retries without the bound
        slot.stop_reason = "completed"
        return False

    worker._run_agent_loop = run_agent_loop
    _run(worker)

    assert statuses == ["running", "finished"] and sessions == [0, 1, 2, 3, 4, 5]
    assert sorted(calls) == [f"req-{session}" for session in (3, 4, 5) for _ in range(3)]
    assert worker.last_tag == {"status": "finished", agent_loop.ABORT_FAILED_TAG: [3, 4, 5]}


class _RewardWorker:
    """Stands in for a handle of verl's ``RewardLoopWorker`` actor: ``compute_score.remote(data)`` awaits
    ``score(session_id)`` (which may sleep, hang or raise) and returns what verl's reward manager returns."""

    def __init__(self, score):
        class _Method:
            async def remote(_, data):
                value = await score(int(data.non_tensor_batch["session_id"][-1]))
                return {"reward_score": value, "reward_extra_info": {"acc": value}}

        self.compute_score = _Method()


def _scoring_worker(monkeypatch, generate, score, cfg, reward_timeout_s=300.0):
    """A worker on verl's real postprocess: each session awaits ``generate(session_id)`` for its response (the
    engine's stand-in, in place of the agent loop verl would instantiate), then AERO's and verl's postprocess run
    for real: the reward call goes to ``score`` through a stand-in reward worker, the row to a stand-in
    TransferQueue. Returns the worker and the ordered events: ``("status", status)`` and ``("row", session)``."""
    events: list[tuple[str, object]] = []

    async def kv_put(key, partition_id, tag):
        events.append(("status", tag["status"]))

    async def kv_batch_put(keys, fields, tags, partition_id):
        events.extend(("row", int(key.split("_")[1])) for key in keys)

    async def run_agent_loop(self, sampling_params, trajectory, *, trace=True, **kwargs):
        response = await generate(kwargs["session_id"])
        output = AgentLoopOutput(
            prompt_ids=[1, 2, 3], response_ids=response, response_mask=[1] * len(response), metrics=AgentLoopMetrics()
        )
        return await self._agent_loop_postprocess(output, trajectory["validate"], **kwargs)

    monkeypatch.setattr(transfer_queue, "async_kv_put", kv_put)
    monkeypatch.setattr(transfer_queue, "async_kv_batch_put", kv_batch_put)
    monkeypatch.setattr(AgentLoopWorker, "_run_agent_loop", run_agent_loop)
    worker = object.__new__(AeroAgentLoopWorker)
    worker.config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"n": 2, "val_kwargs": {"n": 2}}}})
    worker.adaptive = True
    worker.aero = cfg
    worker.trainer_aero = AeroTrainerConfig(reward_timeout_s=reward_timeout_s)
    worker.reward_loop_worker_handles = [_RewardWorker(score)]
    worker.processor = None
    worker.mm_processor_kwargs = {}
    worker.distillation_enabled = False
    return worker, events


def _run_scored(worker, validate=False, linger_s=0.0):
    """Runs one prompt, failing after 5 s instead of hanging; then keeps the loop alive ``linger_s`` for stragglers
    (a worker's event loop outlives its prompts, so a session left running would still write its row)."""

    async def run():
        prompt = {"uid": "u", "data_source": "stub", "index": 7, "global_steps": 1}
        await asyncio.wait_for(worker._run_prompt(prompt, {}, {"validate": validate}), timeout=5.0)
        await asyncio.sleep(linger_s)

    asyncio.run(run())


async def _short_response(session_id):
    return [4, 5]


@pytest.mark.parametrize("validate", [False, True], ids=["aero_loop", "verl_loop"])
def test_reward_that_hangs_fails_its_prompt_at_the_deadline(monkeypatch, caplog, validate):
    # Session 1's reward never returns; the deadline turns it into a rollout error in AERO's loop and in verl's
    # (validation and fixed-rollout arms), so the prompt ends as "failure" without a rescue round.
    async def score(session_id):
        if session_id == 1:
            await asyncio.Event().wait()
        return 0.0

    cfg = AeroConfig(n_explore=2, budget=6, n_extra=2)
    worker, events = _scoring_worker(monkeypatch, _short_response, score, cfg, reward_timeout_s=0.2)
    with caplog.at_level(logging.ERROR):
        _run_scored(worker, validate=validate)
    assert events == [("status", "running"), ("row", 0), ("status", "failure")]
    [error] = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(error, RewardTimeoutError)
    assert "uid=u session=1" in str(error) and "trainer.v1.aero.reward_timeout_s=0.2 s" in str(error)


def test_reward_own_timeout_error_is_not_taken_for_the_deadline(monkeypatch, caplog):
    async def score(session_id):
        if session_id == 1:
            raise TimeoutError("the reward's own verifier timed out")
        return 0.0

    worker, events = _scoring_worker(monkeypatch, _short_response, score, AeroConfig(n_explore=2, budget=6, n_extra=2))
    with caplog.at_level(logging.ERROR):
        _run_scored(worker)
    assert events[-1] == ("status", "failure")
    [error] = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert type(error) is TimeoutError and str(error) == "the reward's own verifier timed out"


def test_race_abort_that_raises_settles_every_sibling_before_the_terminal_status(monkeypatch, caplog):
    # Explore sessions 0-1 fail; in the race (sessions 2-5) session 2 succeeds at once while 3-5 are still
    # generating, and the abort of their requests raises. The prompt fails, but only after 3-5 have ended and
    # written their rows: none may land after the terminal status.
    class _BrokenServer:
        class abort_request:  # noqa: N801 - mirrors a Ray actor method
            @staticmethod
            async def remote(request_id, reset_prefix_cache=True):
                raise RuntimeError("abort_request failed: vLLM server unreachable")

    async def generate(session_id):
        slot = agent_loop.REQUEST_SLOT.get()
        if slot is not None:
            slot.server, slot.request_id = _BrokenServer(), f"req-{session_id}"
        await asyncio.sleep(0.01 if session_id == 2 else 0.3 if session_id > 2 else 0.0)
        return [4, 5]

    async def score(session_id):
        return float(session_id == 2)

    cfg = AeroConfig(n_explore=2, budget=6, n_extra=2, rescue_race=True)
    worker, events = _scoring_worker(monkeypatch, generate, score, cfg)
    with caplog.at_level(logging.ERROR, logger=agent_loop.__name__):
        _run_scored(worker, linger_s=0.5)
    [error] = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert str(error) == "abort_request failed: vLLM server unreachable"
    assert events[0] == ("status", "running") and events[-1] == ("status", "failure")
    assert sorted(session for kind, session in events if kind == "row") == [0, 1, 2, 3, 4, 5]
