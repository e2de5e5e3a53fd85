"""Preflight checks against the Ray cluster a multi-node run attaches to, before verl starts anything on it.

Why: with ``RAY_ADDRESS`` (or ``ray_kwargs.ray_init.address``) verl places its workers on any node of a cluster that
somebody else started, and the launching node's view says nothing about the others. A data file or model directory
that exists only on the launching node, a checkpoint directory that is not shared, an environment variable exported
only in the launching shell or a node with fewer GPUs than ``trainer.n_gpus_per_node`` surfaces minutes into the run
(a worker's ``FileNotFoundError``, a resume that finds half a checkpoint, metrics written elsewhere) or never (verl
waits forever for a placement group no node can hold). Here a tiny Ray task runs on every alive node, pinned there
with ``NodeAffinitySchedulingStrategy`` and with the run's own ``runtime_env``, and each refusal names the node and the
key. Single-node runs (no address) never connect to Ray here.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from recipe.aero.preflight_node import wandb_credentials_source

# Keys Ray refuses when ray.init connects to an existing cluster ("When connecting to an existing cluster, num_cpus
# and num_gpus must not be provided", ray/_private/worker.py): the nodes' resources come from `ray start`.
LOCAL_ONLY_RAY_INIT_KEYS = ("num_cpus", "num_gpus", "resources", "labels", "object_store_memory")
# Variables that, when the launching environment sets them, the workers on every node need too: a Hugging Face token
# for gated downloads (any node loads the model), the platform the workers pick, and, with the file logger, where the
# trainer's process (placed on any node) writes the metrics.
FORWARDED_ENV = ("HF_TOKEN", "VERL_PLATFORM")
FILE_LOGGER_ENV = ("VERL_FILE_LOGGER_PATH", "VERL_FILE_LOGGER_ROOT")
PROBE_TIMEOUT_S = 300  # a first task on a node may build the runtime_env (working_dir upload, pip) before it runs
MARKER_PREFIX = ".aero_preflight_"
MAX_NODES_LISTED = 8
ENV_FIX = (
    "export it before `ray start` on every node, or pass it as ++ray_kwargs.ray_init.runtime_env.env_vars.{name}=... "
    "(which puts the value on the command line and in verl's printed config)"
)


@dataclass(frozen=True)
class NodeInfo:
    """An alive Ray node: its id, address and total resources (``ray.nodes()``)."""

    node_id: str
    ip: str
    resources: Mapping[str, float] = field(default_factory=dict)

    def label(self) -> str:
        return f"node {self.node_id} ({self.ip})"


@dataclass(frozen=True)
class NodeProbe:
    """What a task on one node saw: the paths it could not find, the variables it lacks, its wandb credentials."""

    missing_paths: tuple[str, ...] = ()
    unset_env: tuple[str, ...] = ()
    wandb_credentials: str | None = None


def probe_node(paths: Sequence[str], env_names: Sequence[str]) -> NodeProbe:
    """Runs on one node, in a Ray worker with the run's ``runtime_env``: what a verl worker there would see."""
    return NodeProbe(
        missing_paths=tuple(path for path in paths if not os.path.exists(os.path.expanduser(path))),
        unset_env=tuple(name for name in env_names if not os.environ.get(name)),
        wandb_credentials=wandb_credentials_source(),
    )


class ClusterView(Protocol):
    """The cluster as the checks see it (the real one is :class:`RayCluster`; tests pass their own)."""

    def nodes(self) -> list[NodeInfo]: ...

    def probe(self, nodes: Sequence[NodeInfo], paths: Sequence[str], env_names: Sequence[str]) -> dict[str, object]:
        """``{node_id: NodeProbe, or the exception its task raised}`` for every node."""
        ...


class RayCluster:
    """The running cluster, reached through a driver connection that is closed again before verl's ``ray.init``."""

    def __init__(self, runtime_env: Mapping) -> None:
        self.runtime_env = dict(runtime_env)

    @contextmanager
    def connected(self, address: str | None) -> Iterator[RayCluster]:
        """Connects as verl will (same address argument, so ``RAY_ADDRESS`` is read by Ray alike), then disconnects."""
        import ray

        ray.init(address=address, runtime_env=self.runtime_env, log_to_driver=False)
        try:
            yield self
        finally:
            ray.shutdown()

    def nodes(self) -> list[NodeInfo]:
        import ray

        return [
            NodeInfo(node["NodeID"], node["NodeManagerAddress"], dict(node.get("Resources") or {}))
            for node in ray.nodes()
            if node.get("Alive")
        ]

    def probe(self, nodes: Sequence[NodeInfo], paths: Sequence[str], env_names: Sequence[str]) -> dict[str, object]:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(num_cpus=0, max_retries=0)(probe_node)
        pending = {
            node.node_id: task.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False)
            ).remote(list(paths), list(env_names))
            for node in nodes
        }
        ready, _ = ray.wait(list(pending.values()), num_returns=len(pending), timeout=PROBE_TIMEOUT_S)
        results: dict[str, object] = {}
        for node_id, ref in pending.items():
            if ref not in ready:
                results[node_id] = TimeoutError(f"no answer within {PROBE_TIMEOUT_S} s")
                continue
            try:
                results[node_id] = ray.get(ref)
            except Exception as error:  # the task failed there: reported per node
                results[node_id] = error
        return results


def attached_ray_address(cfg, environ: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """``(address, where it is set)`` when the run attaches to a running cluster; None when verl starts a local one.

    Mirrors Ray's own resolution in ``ray.init``: an explicit ``ray_kwargs.ray_init.address`` wins, ``RAY_ADDRESS``
    is read when it is unset or ``auto``, and ``local`` (either place) starts a new local cluster.
    """
    configured = _ray_init(cfg).get("address")
    if configured not in (None, "", "auto"):
        return None if configured == "local" else (str(configured), "ray_kwargs.ray_init.address")
    from_env = environ.get("RAY_ADDRESS")
    if from_env:
        return None if from_env == "local" else (from_env, "RAY_ADDRESS")
    return ("auto", "ray_kwargs.ray_init.address") if configured == "auto" else None


def _ray_init(cfg) -> Mapping:
    return (cfg.get("ray_kwargs") or {}).get("ray_init") or {}


def _loggers(cfg) -> list[str]:
    value = cfg.trainer.get("logger") or []
    return [value] if isinstance(value, str) else list(value)


def _is_local_path(path: str) -> bool:
    return path.startswith(("/", "~", "."))


def node_paths(cfg, errors: list[str]) -> dict[str, str]:
    """``{path: key}`` of the files every node must see: data, a local model (and tokenizer), a reward file.

    A relative path is refused instead: each Ray worker resolves it against its own working directory, which on an
    attached cluster is where that node's Ray was started, not the launching shell's directory.
    """
    data = cfg.data
    entries: list[tuple[str, str]] = []
    for key in ("train_files", "val_files"):
        files = data.get(key)
        entries += [(f"data.{key}", str(path)) for path in ([files] if isinstance(files, str) else list(files or []))]
    model = cfg.actor_rollout_ref.model
    for key in ("path", "tokenizer_path"):
        value = model.get(key)
        if value and _is_local_path(str(value)):
            entries.append((f"actor_rollout_ref.model.{key}", str(value)))
    reward_path = str(cfg.reward.custom_reward_function.get("path") or "")
    if reward_path and not reward_path.startswith("pkg://"):
        entries.append(("reward.custom_reward_function.path", reward_path.removeprefix("file://")))
    paths: dict[str, str] = {}
    for key, path in entries:
        if os.path.isabs(os.path.expanduser(path)):
            paths[path] = key
        else:
            errors.append(
                f"{key}={path} is relative: on an attached Ray cluster every worker resolves it against its own "
                "working directory (where Ray was started on its node); give an absolute path that is the same on "
                "every node"
            )
    return paths


def _forwarded_env(cfg, environ: Mapping[str, str]) -> tuple[str, ...]:
    names = FORWARDED_ENV + (FILE_LOGGER_ENV if "file" in _loggers(cfg) else ())
    return tuple(name for name in names if environ.get(name))


def _placement_groups(cfg) -> list[tuple[str, int]]:
    """One ``(keys, GPUs)`` per placement group verl asks for: a node's worth of each resource pool (STRICT_PACK)."""
    trainer = cfg.trainer
    keys = f"trainer.nnodes={trainer.nnodes} x trainer.n_gpus_per_node={trainer.n_gpus_per_node}"
    groups = [(keys, trainer.n_gpus_per_node)] * trainer.nnodes
    reward_model = cfg.reward.reward_model
    if reward_model.get("enable") and reward_model.get("enable_resource_pool"):
        keys = (
            f"reward.reward_model.nnodes={reward_model.nnodes} x "
            f"reward.reward_model.n_gpus_per_node={reward_model.n_gpus_per_node}"
        )
        groups += [(keys, reward_model.n_gpus_per_node)] * reward_model.nnodes
    return groups


def check_gpus(
    cfg, nodes: Sequence[NodeInfo], address: str, resource: str, bundle_cpus: int, errors: list[str]
) -> None:
    """Every placement group verl will ask for must fit on one node, GPUs and CPUs alike.

    verl (``RayResourcePool.get_placement_groups``) makes one STRICT_PACK placement group per node of a pool, each
    bundle ``{resource: 1, "CPU": max_colocate_count}``, and waits for them without a timeout: a node's share that fits
    on no node hangs the run, and verl's own check only compares the cluster's total GPUs.
    """
    free = {node.node_id: [node.resources.get(resource, 0), node.resources.get("CPU", 0)] for node in nodes}
    unplaced: Counter[tuple[str, int]] = Counter()
    for keys, size in sorted(_placement_groups(cfg), key=lambda group: -group[1]):
        fitting = [node_id for node_id, (gpus, cpus) in free.items() if gpus >= size and cpus >= size * bundle_cpus]
        if not fitting:
            unplaced[(keys, size)] += 1
            continue
        best = max(fitting, key=lambda node_id: free[node_id][0])
        free[best][0] -= size
        free[best][1] -= size * bundle_cpus
    for (keys, size), count in unplaced.items():
        small = [
            f"{node.label()} has {node.resources.get(resource, 0):g} {resource}, {node.resources.get('CPU', 0):g} CPU"
            for node in nodes
            if node.resources.get(resource, 0) < size or node.resources.get("CPU", 0) < size * bundle_cpus
        ]
        more = len(small) - MAX_NODES_LISTED
        shown = "; ".join(small[:MAX_NODES_LISTED]) + (f"; {more} more" if more > 0 else "")
        errors.append(
            f"{keys}: verl asks for one placement group per node, {size} {resource} + {size * bundle_cpus} CPU "
            f"on a single Ray node, and {count} of them fit on none of the {len(nodes)} alive nodes of the cluster at "
            f"{address}" + (f" ({shown})" if small else "") + "; verl would stop ('Total available GPUs ...') or wait "
            f"forever. Start each node with its {resource}s (`ray start --num-gpus`) and enough CPUs, or lower "
            "these keys"
        )


def _check_attach_keys(cfg, source: str, errors: list[str]) -> None:
    ray_init = _ray_init(cfg)
    for key in LOCAL_ONLY_RAY_INIT_KEYS:
        if ray_init.get(key) is not None:
            errors.append(
                f"ray_kwargs.ray_init.{key}={ray_init.get(key)} while attaching to a running cluster ({source}): Ray "
                f"refuses it when connecting ('When connecting to an existing cluster, ... must not be provided'); the "
                f"nodes' resources are set by `ray start`, so set ray_kwargs.ray_init.{key}=null"
            )


def _runtime_env(cfg) -> dict:
    """The runtime_env verl's ``run_ppo`` passes to ``ray.init`` (its defaults, then the config's), so the probe sees
    the environment and code the workers will see."""
    from omegaconf import OmegaConf
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

    merged = OmegaConf.merge(get_ppo_ray_runtime_env(cfg), _ray_init(cfg).get("runtime_env") or {})
    return OmegaConf.to_container(merged, resolve=True)


@contextmanager
def _checkpoint_marker(cfg, errors: list[str]) -> Iterator[str | None]:
    """A file written into ``trainer.default_local_dir`` from here, for every node to look for: every rank saves its
    shard there and the trainer its step, so resuming needs one directory that all nodes share."""
    directory = str(cfg.trainer.get("default_local_dir") or "")
    if not directory or (cfg.trainer.get("save_freq") or -1) <= 0:
        yield None
        return
    expanded = os.path.expanduser(directory)
    if not os.path.isabs(expanded):
        errors.append(
            f"trainer.default_local_dir={directory} is relative: each Ray worker would save its checkpoint shard "
            "relative to its own working directory; give an absolute path on a filesystem every node shares"
        )
        yield None
        return
    marker = os.path.join(expanded, f"{MARKER_PREFIX}{uuid.uuid4().hex}")
    try:
        os.makedirs(expanded, exist_ok=True)
        with open(marker, "w"):
            pass
    except OSError as error:
        errors.append(f"trainer.default_local_dir={directory}: cannot write there from the launching node ({error})")
        yield None
        return
    try:
        yield marker
    finally:
        os.remove(marker)


def _report(
    cfg, node: NodeInfo, probe: object, paths: Mapping[str, str], marker: str | None, errors: list[str]
) -> None:
    if not isinstance(probe, NodeProbe):
        errors.append(
            f"{node.label()}: the preflight task failed there ({type(probe).__name__}: {str(probe)[-600:]}); a "
            "ModuleNotFoundError means the recipe is not importable on that node: install it there "
            "(pip install --no-deps -e . in the same checkout path) or ship it with ray_kwargs.ray_init.runtime_env"
        )
        return
    for path in probe.missing_paths:
        if path == marker:
            errors.append(
                f"{node.label()} does not see {path}, written into trainer.default_local_dir from the launching node: "
                "each rank saves its checkpoint shard on its own node, so a resume would find an incomplete "
                "checkpoint; put trainer.default_local_dir on a filesystem every node mounts at the same path"
            )
        else:
            errors.append(f"{node.label()}: {paths[path]}: {path} does not exist there (every node needs it)")
    for name in probe.unset_env:
        errors.append(
            f"{node.label()}: {name} is set where the run is launched but not in the Ray workers' environment on "
            f"that node; " + ENV_FIX.format(name=name)
        )
    if "wandb" in _loggers(cfg) and probe.wandb_credentials is None:
        errors.append(
            f"{node.label()}: trainer.logger includes wandb, but a Ray worker there finds no wandb credentials "
            "(WANDB_API_KEY, WANDB_MODE=offline, a ~/.netrc entry) and the trainer may be placed on any node; "
            + ENV_FIX.format(name="WANDB_API_KEY")
        )


def check_cluster(
    cfg,
    errors: list[str],
    warnings: list[str],
    cluster: ClusterView | None = None,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """The attached cluster's checks (nothing without one but a warning for ``trainer.nnodes > 1``).

    Args:
        cfg: the composed launch config.
        errors, warnings: appended to, one message per problem, each naming the node and the key.
        cluster: the cluster to check; None connects to the real one (:class:`RayCluster`) for the check's duration.
        environ: the launching environment (the address, the variables the workers need too).
    """
    attached = attached_ray_address(cfg, environ)
    trainer = cfg.trainer
    if attached is None:
        if trainer.nnodes > 1 and _ray_init(cfg).get("num_gpus") is None:
            warnings.append(
                f"trainer.nnodes={trainer.nnodes} but no Ray cluster is attached (RAY_ADDRESS, "
                "ray_kwargs.ray_init.address): verl starts a one-node Ray here, which stops with 'Total available "
                f"GPUs ... is less than total desired GPUs {trainer.nnodes * trainer.n_gpus_per_node}' unless this "
                "machine alone has them; start the cluster first (README, 'Multi-node on Ray')"
            )
        return
    address, source = attached
    _check_attach_keys(cfg, source, errors)
    paths = node_paths(cfg, errors)
    env_names = _forwarded_env(cfg, environ)
    from verl.single_controller.ray.base import ResourcePoolManager
    from verl.utils.device import get_resource_name

    with _checkpoint_marker(cfg, errors) as marker, ExitStack() as connection:
        probed = {**paths, **({marker: "trainer.default_local_dir"} if marker else {})}
        try:
            view = cluster or connection.enter_context(
                RayCluster(_runtime_env(cfg)).connected(_ray_init(cfg).get("address"))
            )
        except Exception as error:  # unreachable address, refused token, a runtime_env that does not build
            errors.append(f"{source}={address}: cannot connect to the Ray cluster ({type(error).__name__}: {error})")
            return
        nodes = view.nodes()
        check_gpus(cfg, nodes, address, get_resource_name(), ResourcePoolManager.max_colocate_count, errors)
        by_id = {node.node_id: node for node in nodes}
        for node_id, probe in view.probe(nodes, list(probed), env_names).items():
            _report(cfg, by_id[node_id], probe, probed, marker, errors)
