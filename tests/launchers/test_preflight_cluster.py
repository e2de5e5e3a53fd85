"""recipe.aero.preflight_cluster on the real composed config, against a stand-in cluster: what each node's probe
reports becomes one refusal naming the node and the key, and nothing connects without an attached cluster.

The stand-in answers ``nodes()`` and ``probe()`` as the real :class:`RayCluster` does, with each node's answer
computed by the real :func:`probe_node` against a per-node view of the filesystem and environment (a set of paths
that exist there and a dict of variables). The same checks against a real two-node Ray cluster:
``tests/e2e/test_aero_multinode.py``.
"""

from __future__ import annotations

import os
from functools import partial

import pytest

from recipe.aero import preflight_cluster
from recipe.aero.preflight import compose_launch_config
from recipe.aero.preflight_cluster import NodeInfo, attached_ray_address, check_cluster, probe_node
from recipe.aero.preflight_node import wandb_credentials_source

ADDRESS = "10.0.0.1:6379"


class _Cluster:
    """Nodes ``a`` and ``b``, 8 GPUs and 64 CPUs each; ``sees[node]`` the paths that exist there, ``env[node]`` its
    workers' variables; ``fails`` the nodes whose task raises (the recipe not importable there)."""

    def __init__(self, sees: dict[str, set[str]], env: dict[str, dict[str, str]], gpus=8, fails=()):
        self.sees, self.env, self.fails = sees, env, set(fails)
        self._nodes = [NodeInfo(n, f"10.0.0.{i}", {"GPU": gpus, "CPU": 64}) for i, n in enumerate(("a", "b"))]
        self.probed: list[str] = []

    def nodes(self):
        return self._nodes

    def probe(self, nodes, paths, env_names):
        answers = {}
        for node in nodes:
            self.probed.append(node.node_id)
            if node.node_id in self.fails:
                answers[node.node_id] = ModuleNotFoundError("No module named 'recipe'")
                continue
            environ = {"NETRC": "/nonexistent/.netrc", **self.env[node.node_id]}  # no ~/.netrc of this machine
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(os.path, "exists", lambda p, node=node: p in self.sees[node.node_id])
                patch.setattr(os, "environ", environ)
                patch.setattr(preflight_cluster, "wandb_credentials_source", partial(wandb_credentials_source, environ))
                answers[node.node_id] = probe_node(paths, env_names)
        return answers


@pytest.fixture
def cfg(tmp_path):
    data, model = tmp_path / "train.parquet", tmp_path / "model"
    return compose_launch_config(
        [
            "trainer.nnodes=2",
            "trainer.n_gpus_per_node=8",
            f"data.train_files=['{data}']",
            f"data.val_files=['{data}']",
            f"actor_rollout_ref.model.path={model}",
            "reward.custom_reward_function.path=pkg://recipe.aero.reward.math_reward",
            "reward.custom_reward_function.name=compute_score",
            f"trainer.default_local_dir={tmp_path / 'ckpt'}",
            "trainer.save_freq=10",
            "trainer.logger=[console]",
            f"++ray_kwargs.ray_init.address={ADDRESS}",
        ]
    )


def _paths(cfg) -> set[str]:
    return {cfg.data.train_files[0], cfg.actor_rollout_ref.model.path}


def _shared_marker(cfg) -> set[str]:
    """Every marker file the preflight wrote into the checkpoint directory (what a shared filesystem shows)."""
    directory = cfg.trainer.default_local_dir
    return {os.path.join(directory, name) for name in os.listdir(directory)} if os.path.isdir(directory) else set()


class _SharedDisk(_Cluster):
    """Nodes that see the launching node's checkpoint directory (the marker) as well as ``sees``."""

    def __init__(self, cfg, sees, env, **kwargs):
        super().__init__(sees, env, **kwargs)
        self.cfg = cfg

    def probe(self, nodes, paths, env_names):
        for node_id in self.sees:
            self.sees[node_id] |= _shared_marker(self.cfg)
        return super().probe(nodes, paths, env_names)


def _check(cfg, cluster, environ=None) -> tuple[list[str], list[str]]:
    errors, warnings = [], []
    check_cluster(cfg, errors, warnings, cluster=cluster, environ=environ or {})
    return errors, warnings


def test_a_cluster_whose_nodes_see_everything_passes_and_the_marker_is_removed(cfg):
    cluster = _SharedDisk(cfg, {"a": _paths(cfg), "b": _paths(cfg)}, {"a": {"HF_TOKEN": "t"}, "b": {"HF_TOKEN": "t"}})
    assert _check(cfg, cluster, {"HF_TOKEN": "t"}) == ([], [])
    assert cluster.probed == ["a", "b"] and not _shared_marker(cfg)


def test_each_node_that_lacks_a_file_a_variable_or_the_shared_checkpoint_dir_is_named(cfg):
    data = cfg.data.train_files[0]
    cluster = _Cluster({"a": _paths(cfg) | _shared_marker(cfg), "b": {data}}, {"a": {"HF_TOKEN": "t"}, "b": {}})
    errors, _ = _check(cfg, cluster, {"HF_TOKEN": "t"})
    model = cfg.actor_rollout_ref.model.path
    assert f"node b (10.0.0.1): actor_rollout_ref.model.path: {model} does not exist there (every node needs it)" in (
        errors
    )
    assert any(e.startswith("node b (10.0.0.1): HF_TOKEN is set where the run is launched") for e in errors), errors
    # The marker exists on the launching node only (this stand-in shows it to no node): both are named.
    shared = [e for e in errors if "written into trainer.default_local_dir" in e]
    assert [e.split(" ", 2)[1] for e in shared] == ["a", "b"], errors
    assert len(errors) == 4, errors


def test_a_node_where_the_probe_fails_says_the_recipe_is_not_importable_there(cfg):
    cluster = _SharedDisk(cfg, {"a": _paths(cfg), "b": _paths(cfg)}, {"a": {}, "b": {}}, fails=["b"])
    [error] = _check(cfg, cluster)[0]
    assert error.startswith("node b (10.0.0.1): the preflight task failed there (ModuleNotFoundError")
    assert "pip install --no-deps -e ." in error


def test_wandb_needs_credentials_in_every_nodes_workers(cfg):
    cfg.trainer.logger = ["console", "wandb"]
    cluster = _SharedDisk(cfg, {"a": _paths(cfg), "b": _paths(cfg)}, {"a": {"WANDB_API_KEY": "k"}, "b": {}})
    [error] = _check(cfg, cluster)[0]
    assert error.startswith("node b (10.0.0.1): trainer.logger includes wandb") and "WANDB_API_KEY" in error


def test_a_nodes_share_of_gpus_must_fit_on_one_node(cfg):
    cluster = _SharedDisk(cfg, {"a": _paths(cfg), "b": _paths(cfg)}, {"a": {}, "b": {}}, gpus=4)
    [error] = _check(cfg, cluster)[0]
    assert error.startswith("trainer.nnodes=2 x trainer.n_gpus_per_node=8: verl asks for one placement group per node")
    assert "2 of them fit on none of the 2 alive nodes" in error and ADDRESS in error


def test_attaching_refuses_local_only_ray_keys_and_relative_paths(cfg):
    cfg.ray_kwargs.ray_init.num_cpus = 16
    cfg.data.val_files = ["data/test.parquet"]
    cluster = _SharedDisk(cfg, {"a": _paths(cfg), "b": _paths(cfg)}, {"a": {}, "b": {}})
    errors, _ = _check(cfg, cluster)
    assert any(e.startswith("ray_kwargs.ray_init.num_cpus=16 while attaching") for e in errors), errors
    assert any(e.startswith("data.val_files=data/test.parquet is relative") for e in errors), errors
    assert len(errors) == 2, errors


def test_without_an_attached_cluster_nothing_connects_and_several_nodes_are_warned_about(cfg, monkeypatch):
    cfg.ray_kwargs.ray_init.address = None
    monkeypatch.setattr(preflight_cluster, "RayCluster", None)  # any connection attempt would fail loudly
    errors, warnings = _check(cfg, cluster=None)
    assert errors == [] and len(warnings) == 1 and warnings[0].startswith("trainer.nnodes=2 but no Ray cluster")


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        (None, {}, None),
        (None, {"RAY_ADDRESS": "head:6379"}, ("head:6379", "RAY_ADDRESS")),
        ("auto", {"RAY_ADDRESS": "head:6379"}, ("head:6379", "RAY_ADDRESS")),
        ("auto", {}, ("auto", "ray_kwargs.ray_init.address")),
        ("head:6379", {"RAY_ADDRESS": "local"}, ("head:6379", "ray_kwargs.ray_init.address")),
        ("local", {"RAY_ADDRESS": "head:6379"}, None),
        (None, {"RAY_ADDRESS": "local"}, None),
    ],
)
def test_the_attached_address_is_resolved_as_ray_init_resolves_it(cfg, configured, environ, expected):
    cfg.ray_kwargs.ray_init.address = configured
    assert attached_ray_address(cfg, environ) == expected
