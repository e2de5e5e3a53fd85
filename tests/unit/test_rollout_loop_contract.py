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
