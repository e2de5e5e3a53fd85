"""What verl's vLLM rollout server on vLLM's CPU build gives AERO that a batch-at-a-time engine could not.

Both checks read vLLM's own per-request record (``verl_patches.cpu.vllm_request_log``: engine-core timestamps of
when each request was first scheduled and produced its last token), so they compare the order of engine events and
assert no durations:

* a real ``main_aero`` AERO run (the session's ``guided_run``, ``aero_runs.py``): some prompt's rescue request is
  scheduled while another prompt's exploration request is still decoding, i.e. rescue joins the running batch
  (continuous batching) instead of waiting for a batch to finish;
* verl's ``abort_request`` (with verl_patches P10, applied as the rescue race applies it: ``AERO_VLLM_ABORT_BY_ID=1``
  in the workers' environment) / ``abort_all_requests`` on a standalone vLLM replica stop in-flight requests in the
  engine (``finish_reason == "abort"``, fewer tokens than asked), and ``resume_generation`` serves new ones.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aero_runs import N_EXPLORE, REQUEST_LOG, REQUEST_LOG_ENV, completed, group_rows, read_requests

pytestmark = pytest.mark.e2e

MAX_ABORT_TRIES = 300


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


def test_rescue_requests_join_the_running_batch(guided_run):
    """Step 1 of the shared ``guided_run`` (half of its prompts unsolvable, so rescued up to the budget)."""
    steps = completed(guided_run, [1, 2])
    requests = sorted(read_requests(guided_run.run_dir / REQUEST_LOG), key=lambda r: r["arrival_time"])
    assert len(requests) == sum(m["aero/gen/rollouts"] for m in steps.values())  # one engine request per rollout
    requests = requests[: int(steps[1]["aero/gen/rollouts"])]  # step 2 starts once step 1 is trained
    groups = [row for row in group_rows(guided_run) if row["step"] == 1]
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
    from verl_patches.any_platform.vllm_abort_request import ABORT_BY_ID_ENV

    request_log = tmp_path / "vllm_requests.jsonl"
    init_ray({REQUEST_LOG_ENV: str(request_log), ABORT_BY_ID_ENV: "1"})
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
