"""AeroAgentLoopWorker._run_prompt against a fake agent loop and a stand-in TransferQueue: the prompt always ends
with a terminal status (never left ``running``, which would make verl's sync sampler wait for ever), and only a
loop that ran to its planner's end is ``finished``."""

import asyncio

import pytest
import transfer_queue

from recipe.aero import agent_loop
from recipe.aero.agent_loop import AeroAgentLoopWorker
from recipe.aero.core.config import AeroConfig


def _worker(outcomes, monkeypatch):
    """A worker whose sessions return ``outcomes[session_id]`` (a bool, or an exception to raise)."""
    statuses: list[str] = []

    async def kv_put(key, partition_id, tag):
        statuses.append(tag["status"])
        worker.last_tag = tag

    monkeypatch.setattr(transfer_queue, "async_kv_put", kv_put)
    worker = object.__new__(AeroAgentLoopWorker)
    worker.adaptive = True
    worker.aero = AeroConfig(n_explore=2, budget=6, n_extra=2)
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
    worker, statuses, sessions = _worker(lambda s: s == 4, monkeypatch)
    _run(worker)
    assert statuses == ["running", "finished"] and sessions == [0, 1, 2, 3, 4, 5]


def test_session_error_ends_the_prompt_as_failure_without_more_rounds(monkeypatch):
    worker, statuses, sessions = _worker(lambda s: RuntimeError("engine died") if s == 3 else False, monkeypatch)
    _run(worker)
    assert statuses == ["running", "failure"] and sessions == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "breakage",
    ["planner", "unexpected_return"],
)
def test_error_outside_the_sessions_still_publishes_failure(monkeypatch, breakage):
    if breakage == "planner":
        calls = []

        def planner(n_correct, n_generated, cfg):
            calls.append(1)
            if len(calls) > 1:
                raise ValueError("planner broke")
            return 2

        monkeypatch.setattr(agent_loop, "next_round_size", planner)
        worker, statuses, _ = _worker(lambda s: False, monkeypatch)
    else:
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
