"""AERO on a two-node Ray cluster: ``trainer.nnodes=2 trainer.n_gpus_per_node=1`` attached to running nodes.

The cluster is two ``ray start`` nodes on this machine (``aero_cpu.ray_cluster``), one fake GPU each, started the way
an operator starts a real cluster: the head, then a node joining it by address. The nodes' environment has neither
``VERL_PLATFORM`` nor the file logger's path, so what the workers need reaches them only through
``ray_kwargs.ray_init.runtime_env`` (the CPU overrides and the launcher put it there), as on separate machines.
``main_aero`` attaches with ``ray_kwargs.ray_init.address`` (no ``num_cpus`` / ``num_gpus``: Ray refuses them when
connecting), runs its preflight against the cluster, trains 2 steps with a checkpoint at step 2, and a second run
resumes from it and trains step 3. Where verl placed each actor is read back from Ray's GCS actor table.

The preflight's cluster checks also run here against the real cluster from this process: a config that passes, and
refusals that name each node (a path no node has, a variable the workers lack, more nodes than the cluster has).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from aero_runs import CHECKPOINTS, MODULE, RUN_TIMEOUT_S, completed, overrides
from test_cpu_grpo import SYNCED_PROBS_DIFF_MAX

from aero_cpu.launcher import FILE_LOGGER_ENV, RunResult, run_verl_cpu
from aero_cpu.overrides import cpu_overrides, runtime_env_overrides
from aero_cpu.ray_cluster import LocalRayCluster
from recipe.aero.preflight import compose_launch_config
from recipe.aero.preflight_cluster import check_cluster
from recipe.aero.report import load_history

pytestmark = pytest.mark.e2e

NODES = 2
NODE_CPUS = 16  # Ray's count per node, as the single-node runs' ray_init.num_cpus (verl's bundles take 3 per GPU)
# The launching shell's variables that a real cluster's nodes would not have: they must come through runtime_env.
DRIVER_ONLY_ENV = ("VERL_PLATFORM", "VERL_FILE_LOGGER_PATH", "VLLM_CPU_KVCACHE_SPACE")
TRAINER_WORKERS = "WorkerDict"  # verl's fused actor/rollout worker class, one actor per trainer rank
ROLLOUT_SERVERS = "vLLMHttpServer"  # verl's vLLM server actor, one per rollout replica
# Two trainer ranks and two vLLM engines start on the same cores as one of each in a single-node run: on a loaded
# 2-core machine the resumed run's start-up alone took 9 of its 10 minutes (first try), and it was stopped in step 3.
TWO_NODE_TIMEOUT_S = 2 * RUN_TIMEOUT_S


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    node_env = {k: v for k, v in os.environ.items() if k not in DRIVER_ONLY_ENV}
    node_env.update({"RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    with LocalRayCluster(NODES, NODE_CPUS, 1, env=node_env, log_dir=tmp_path_factory.mktemp("ray_nodes")) as nodes:
        yield nodes
    assert not nodes.leftover_pids(), "Ray processes of the test cluster outlived it"


def _placement(actors: list[dict], seen: set[str]) -> dict[str, list[str]]:
    """``{actor class: [node id, ...]}`` of the actors not in ``seen`` (the ones a run created).

    Ray records a class's qualified name (verl defines ``WorkerDict`` inside a function); the last part is kept.
    """
    placed: dict[str, list[str]] = {}
    for actor in actors:
        if actor["ActorID"] not in seen:
            name = actor["ActorClassName"].rsplit(".", 1)[-1]
            placed.setdefault(name, []).append(actor["Address"]["NodeID"])
    return {name: sorted(nodes) for name, nodes in sorted(placed.items())}


@pytest.fixture(scope="module")
def runs(cluster, tiny_assets, tmp_path_factory) -> dict:
    """Two steps with a checkpoint at step 2, then a resumed run to step 3; each run's actor placement."""
    run_dir = tmp_path_factory.mktemp("aero_two_nodes")
    attach = {"timeout": TWO_NODE_TIMEOUT_S, "nnodes": NODES, "ray_address": cluster.address}
    before = {actor["ActorID"] for actor in cluster.actors()}
    first = run_verl_cpu(MODULE, overrides(tiny_assets, "aero", 2, run_dir, *CHECKPOINTS), run_dir, **attach)
    after_first = cluster.actors()
    shutil.copy(run_dir / "metrics.jsonl", run_dir / "attempt1.jsonl")  # verl's file logger truncates it on start
    resumed = run_verl_cpu(MODULE, overrides(tiny_assets, "aero", 3, run_dir, *CHECKPOINTS), run_dir, **attach)
    after_resumed = cluster.actors()
    placement = [_placement(after_first, before), _placement(after_resumed, {a["ActorID"] for a in after_first})]
    nodes = sorted(node["NodeID"] for node in cluster.alive_nodes())
    (run_dir / "placement.json").write_text(json.dumps({"nodes": nodes, "runs": placement}, indent=1))
    return {
        "nodes": nodes,
        "first": first,
        "resumed": resumed,
        "first_log": run_dir / "attempt1.jsonl",
        "placement": placement,
    }


def test_two_nodes_train_checkpoint_and_resume(runs):
    first: RunResult = runs["first"]
    resumed: RunResult = runs["resumed"]
    completed(first, [1, 2])
    after = completed(resumed, [3])  # restarts after the step-2 checkpoint
    shards = sorted(p.name for p in (first.checkpoint_dir / "global_step_2" / "actor").glob("model_world_size_2_*"))
    assert len(shards) == NODES, shards  # each node's rank saved its shard into the shared directory
    # The loaded weights reached the vLLM replica on each node: rollout and trainer log-probs agree after the sync.
    assert after[3]["training/rollout_probs_diff_max"] < SYNCED_PROBS_DIFF_MAX, after[3]
    # AERO's state came back from the checkpoint: the cumulative counters continue from step 2's.
    saved = json.loads((first.checkpoint_dir / "global_step_2" / "aero_state.json").read_text())
    resumed_total = saved["cumulative"]["gen_rollouts"] + after[3]["aero/gen/rollouts"]
    assert after[3]["aero/cumulative/gen_rollouts"] == resumed_total
    before = load_history(runs["first_log"])
    assert saved["cumulative"]["gen_rollouts"] == sum(before[step]["aero/gen/rollouts"] for step in (1, 2))


@pytest.mark.parametrize("run", [0, 1], ids=["first", "resumed"])
def test_each_run_places_a_trainer_rank_and_a_vllm_server_on_each_node(runs, run):
    placement = runs["placement"][run]
    nodes = runs["nodes"]
    assert len(nodes) == NODES
    for actor_class in (TRAINER_WORKERS, ROLLOUT_SERVERS):
        assert placement.get(actor_class) == nodes, (actor_class, placement)


def _cluster_config(tiny_assets, address: str, tmp_path, *extra: str):
    """The multi-node run's config, as ``run_verl_cpu`` composes it (the file logger's path in the runtime_env)."""
    chosen = [
        *cpu_overrides(nnodes=NODES, ray_address=address),
        *runtime_env_overrides({FILE_LOGGER_ENV: str(tmp_path / "metrics.jsonl")}),
        f"trainer.default_local_dir={tmp_path / 'checkpoints'}",
        *overrides(tiny_assets, "aero", 2, tmp_path, *CHECKPOINTS),
        *extra,
    ]
    last = {o.split("=", 1)[0].lstrip("+"): i for i, o in enumerate(chosen)}  # a later override replaces an earlier
    return compose_launch_config([o for i, o in enumerate(chosen) if last[o.split("=", 1)[0].lstrip("+")] == i])


def test_preflight_passes_on_the_cluster_the_run_uses(cluster, tiny_assets, tmp_path):
    errors, warnings = [], []
    launching_env = {"VERL_PLATFORM": "cpu", FILE_LOGGER_ENV: str(tmp_path / "metrics.jsonl")}  # run_verl_cpu's
    check_cluster(_cluster_config(tiny_assets, cluster.address, tmp_path), errors, warnings, environ=launching_env)
    assert errors == [] and warnings == []
    assert not list((tmp_path / "checkpoints").iterdir()), "the shared-directory marker was left behind"


def test_preflight_refusals_name_every_node_and_key(cluster, tiny_assets, tmp_path):
    missing = tmp_path / "only_on_the_launching_node.parquet"
    cfg = _cluster_config(tiny_assets, cluster.address, tmp_path, f"data.val_files=['{missing}']", "trainer.nnodes=3")
    errors, warnings = [], []
    check_cluster(cfg, errors, warnings, environ={"HF_TOKEN": "set-only-here"})
    node_ids = sorted(node["NodeID"] for node in cluster.alive_nodes())
    for node_id in node_ids:
        assert any(f"node {node_id}" in e and "data.val_files" in e and str(missing) in e for e in errors), errors
        assert any(f"node {node_id}" in e and "HF_TOKEN" in e for e in errors), errors
    gpus = [e for e in errors if e.startswith("trainer.nnodes=3 x trainer.n_gpus_per_node=1")]
    assert len(gpus) == 1 and f"none of the {NODES} alive nodes" in gpus[0], errors
    assert len(errors) == 2 * NODES + 1, errors
