"""What verl's vLLM rollout server on vLLM's CPU build gives AERO that a batch-at-a-time engine could not.

Both checks read vLLM's own per-request record (``verl_patches.vllm_request_log``: engine-core timestamps of when
each request was first scheduled and produced its last token), so they compare the order of engine events and
assert no durations:

* a real ``main_aero`` AERO run: some prompt's rescue request is scheduled while another prompt's exploration
  request is still decoding, i.e. rescue joins the running batch (continuous batching) instead of waiting for a
  batch to finish;
* verl's ``abort_request`` / ``abort_all_requests`` on a standalone vLLM replica stop in-flight requests in the
  engine (``finish_reason == "abort"``, fewer tokens than asked), and ``resume_generation`` serves new ones.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path

import pytest

from aero_cpu.launcher import RunResult, run_verl_cpu
from aero_cpu.overrides import tiny_run_overrides

pytestmark = pytest.mark.e2e

REWARD = Path(__file__).parent / "fixtures" / "half_unsolvable_reward.py"
REQUEST_LOG_ENV = "AERO_VLLM_REQUEST_LOG"
N_EXPLORE, N_EXTRA, BUDGET = 4, 2, 8
RUN_TIMEOUT_S = 600
MAX_ABORT_TRIES = 300


def read_requests(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def aero_run_with_request_log(tiny_assets, tmp_path_factory) -> tuple[RunResult, list[dict], list[dict]]:
    run_dir = tmp_path_factory.mktemp("aero_vllm_requests")
    request_log = run_dir / "vllm_requests.jsonl"
    group_log = run_dir / "aero_groups.jsonl"
    base = tiny_run_overrides(tiny_assets, train_batch_size=6, rollout_n=BUDGET, max_response_length=48)
    overrides = [
        *(o for o in base if "custom_reward_function.path" not in o),
        f"reward.custom_reward_function.path={REWARD}",
        "algorithm.adv_estimator=aero",
        f"algorithm.aero.n_explore={N_EXPLORE}",
        f"algorithm.aero.budget={BUDGET}",
        f"algorithm.aero.n_extra={N_EXTRA}",
        "trainer.total_training_steps=2",
        f"trainer.v1.aero.group_log_path={group_log}",
        # vLLM records per-request engine timestamps only with its stats on.
        "actor_rollout_ref.rollout.disable_log_stats=False",
        # A running batch that is full some of the time, as on a loaded GPU: 24 exploration requests per step
        # are scheduled in waves of at most 10, so a prompt explored in an early wave finishes (and is rescued)
        # while later waves are still decoding.
        "actor_rollout_ref.rollout.max_num_seqs=10",
    ]
    result = run_verl_cpu(
        "recipe.aero.main_aero", overrides, run_dir, RUN_TIMEOUT_S, env={REQUEST_LOG_ENV: str(request_log)}
    )
    assert not result.timed_out and result.returncode == 0, f"exit {result.returncode}\n{result.log_tail()}"
    assert list(result.steps()) == [1, 2], result.log_tail()
    groups = [json.loads(line) for line in group_log.read_text().splitlines()]
    return result, read_requests(request_log), groups


def split_rounds(requests: list[dict]) -> dict[tuple, dict[str, list[dict]]]:
    """Requests per prompt (same prompt tokens; the tiny prompts are unique within an epoch), split into the
    exploration round (the first ``N_EXPLORE`` to arrive) and the rescue requests after it."""
    by_prompt: dict[tuple, list[dict]] = defaultdict(list)
    for request in requests:
        by_prompt[tuple(request["prompt_token_ids"])].append(request)
    rounds = {}
    for prompt, group in by_prompt.items():
        group.sort(key=lambda r: r["arrival_time"])
        rounds[prompt] = {"explore": group[:N_EXPLORE], "rescue": group[N_EXPLORE:]}
    return rounds


def test_rescue_requests_join_the_running_batch(aero_run_with_request_log):
    _, requests, groups = aero_run_with_request_log
    assert all(r[k] is not None for r in requests for k in ("scheduled_ts", "last_token_ts")), requests[:2]
    rounds = split_rounds(requests)
    # The engine served exactly the rollouts the agent loop accounted for, prompt by prompt.
    assert sorted(len(r["explore"]) + len(r["rescue"]) for r in rounds.values()) == sorted(
        g["n_generated"] for g in groups
    )
    rescued = {p: r for p, r in rounds.items() if r["rescue"]}
    assert rescued, "no prompt was rescued: half of the prompts are unsolvable by construction"
    joined = []
    for prompt, own in rescued.items():
        own_explore_end = max(e["last_token_ts"] for e in own["explore"])
        for rescue in own["rescue"]:
            # A rescue request is only issued once its own exploration round was scored.
            assert rescue["scheduled_ts"] > own_explore_end, (rescue, own["explore"])
            still_decoding = [
                e
                for other, theirs in rounds.items()
                if other != prompt
                for e in theirs["explore"]
                if e["scheduled_ts"] < rescue["scheduled_ts"] < e["last_token_ts"]
            ]
            if still_decoding:
                joined.append((rescue["request_id"], [e["request_id"] for e in still_decoding]))
    assert joined, "no rescue request was scheduled while another prompt's exploration request was decoding"


async def _abort_scenario(model_dir: str) -> dict:
    from aero_cpu.vllm_replica import start_vllm_replica

    replica = await start_vllm_replica(model_dir, ["actor_rollout_ref.rollout.response_length=440"])
    server = replica.server_handle
    long = {"temperature": 1.0, "logprobs": True, "max_tokens": 440, "ignore_eos": True}
    prompt = [1, 2, 3, 4, 5, 6, 7, 8]
    running = {
        rid: server.generate.remote(prompt_ids=prompt, sampling_params=dict(long), request_id=rid)
        for rid in ("single", "all-1", "all-2")
    }
    for _ in range(MAX_ABORT_TRIES):  # verl's per-request abort, once vLLM knows the request
        found = await server.abort_request.remote("single")
        if found["aborted"]:
            break
        await asyncio.sleep(0.01)
    single = await running.pop("single")
    if not found["aborted"]:
        raise AssertionError(f"verl's abort_request never found the running request: {found}, output {single}")
    await replica.abort_all_requests()  # verl's pause_generation path, as used around weight syncs
    rest = {rid: await ref for rid, ref in running.items()}
    parked = server.generate.remote(prompt_ids=prompt, sampling_params={"max_tokens": 8}, request_id="after")
    await replica.resume_generation()
    after = await parked
    return {"single": single, **rest, "after": after}


def test_verl_abort_calls_stop_in_flight_vllm_requests(tiny_assets, tmp_path):
    import ray

    from aero_cpu.vllm_replica import init_ray

    request_log = tmp_path / "vllm_requests.jsonl"
    init_ray({REQUEST_LOG_ENV: str(request_log)})
    try:
        outputs = asyncio.run(_abort_scenario(str(tiny_assets.model_dir)))
    finally:
        ray.shutdown()
    for rid in ("single", "all-1", "all-2"):
        assert outputs[rid].stop_reason == "aborted" and len(outputs[rid].token_ids) < 440, (rid, outputs[rid])
    assert outputs["after"].stop_reason == "completed" and len(outputs["after"].token_ids) == 8
    # vLLM's own record: three requests ended by abort in the engine, the one after resume ran to its length.
    reasons = sorted(r["finish_reason"] for r in read_requests(request_log))
    assert reasons == ["abort", "abort", "abort", "length"], reasons
