"""A multi-node Ray cluster on one machine: ``ray start --head`` plus ``ray start --address`` per extra node.

Why: a multi-node run attaches to a cluster somebody started (``trainer.nnodes > 1``), and what breaks there (where
verl places workers, what environment and files they see, resources asked of several nodes) never shows on the
single local Ray that ``ray.init`` starts. Each node here is a separate raylet with its own fake GPUs (``--num-gpus``:
verl's CPU platform asks Ray for ``"GPU"``), started exactly as an operator would start a real node.

Every node runs as ``ray start --block`` in its own session, so stopping it stops that node's Ray processes (the CLI
kills its children on SIGTERM) and nothing else on the machine: ``ray stop`` would kill every Ray process on the
host, another job's included. Ports are chosen free and the temp dir is private, so the cluster cannot collide with
a local Ray instance, and ``ray.init()`` without an address never finds it (``ray start`` records its address in
the temp dir it was given, not in ``/tmp/ray``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

# Ports every node would otherwise take at fixed defaults (dashboard agent 52365, client server 10001, ...).
_NODE_PORT_FLAGS = (
    "--node-manager-port",
    "--object-manager-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
)
_STOP_GRACE_S = 30


def free_port() -> int:
    """A TCP port nobody listens on now (the OS's pick for port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRayCluster:
    """``n_nodes`` Ray nodes on this machine, each with ``num_cpus`` CPUs and ``num_gpus`` fake GPUs.

    Use as a context manager; ``address`` is the head's ``host:port`` for ``ray.init(address=...)`` / ``RAY_ADDRESS``.

    Args:
        n_nodes: nodes in all, the head included.
        num_cpus: Ray CPUs per node (Ray's own count, independent of the real cores).
        num_gpus: Ray "GPU" resources per node.
        env: the nodes' environment (what ``ray start`` inherits, so what every worker starts with before
            ``runtime_env``); the current environment when None. ``RAY_AUTH_MODE=disabled`` is added.
        object_store_bytes: each node's object store (Ray's default takes 30 % of the machine's memory per node).
        log_dir: where each node's ``ray start`` output goes; a fresh temp dir when None.
    """

    def __init__(
        self,
        n_nodes: int = 2,
        num_cpus: int = 16,
        num_gpus: int = 1,
        env: Mapping[str, str] | None = None,
        object_store_bytes: int = 1 << 30,
        log_dir: str | Path | None = None,
    ) -> None:
        self.n_nodes, self.num_cpus, self.num_gpus = n_nodes, num_cpus, num_gpus
        # No token authentication: Ray 2.60's `ray start --head` turns it on whenever ~/.ray/auth_token exists (any
        # earlier local ray.init writes one), and every client would then need that machine-wide token.
        self.env = {**(os.environ if env is None else env), "RAY_AUTH_MODE": "disabled"}
        self.object_store_bytes = object_store_bytes
        # Short: Ray's socket paths under it must stay below the 107-byte AF_UNIX limit.
        self.temp_dir = tempfile.mkdtemp(prefix="aero_ray_", dir="/tmp")
        self.log_dir = Path(log_dir or self.temp_dir)
        self.address = f"127.0.0.1:{free_port()}"
        self._nodes: list[subprocess.Popen] = []

    def _start_node(self, head: bool) -> subprocess.Popen:
        ray_cli = str(Path(sys.executable).with_name("ray"))
        command = [
            ray_cli,
            "start",
            "--block",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
            f"--num-cpus={self.num_cpus}",
            f"--num-gpus={self.num_gpus}",
            f"--object-store-memory={self.object_store_bytes}",
            *(f"{flag}={free_port()}" for flag in _NODE_PORT_FLAGS),
        ]
        if head:
            command += [
                "--head",
                "--include-dashboard=false",
                f"--port={self.address.rsplit(':', 1)[1]}",
                f"--ray-client-server-port={free_port()}",
            ]
        else:
            command.append(f"--address={self.address}")
        with open(self.log_dir / f"ray_node_{len(self._nodes)}.log", "wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._nodes.append(process)
        return process

    def start(self, timeout: float = 120.0) -> LocalRayCluster:
        """Starts the head, then the other nodes, and waits until Ray reports all of them alive."""
        self._start_node(head=True)
        self.wait_for_nodes(1, timeout)
        for _ in range(self.n_nodes - 1):
            self._start_node(head=False)
        self.wait_for_nodes(self.n_nodes, timeout)
        return self

    def _query(self, expression: str) -> list[dict]:
        """``expression`` evaluated by a driver in a separate process (this one never attaches), as JSON."""
        code = (
            "import json, sys, ray, ray._private.state; "
            "ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
            f"print(json.dumps({expression}, default=str))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, self.address],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    def alive_nodes(self) -> list[dict]:
        """``ray.nodes()`` entries of the alive nodes."""
        return self._query("[n for n in ray.nodes() if n['Alive']]")

    def actors(self) -> list[dict]:
        """Every actor the cluster's GCS knows, dead ones included, each with its ``Address.NodeID`` and ``JobID``.

        Read from the GCS actor table (``ray._private.state.actors``): ``ray.util.state.list_actors`` would need the
        dashboard, which these nodes do not start.
        """
        return self._query("list(ray._private.state.actors().values())")

    def wait_for_nodes(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for index, process in enumerate(self._nodes):
                if process.poll() is not None:
                    raise RuntimeError(f"ray node {index} exited ({process.returncode}): {self.node_log(index)}")
            try:
                if len(self.alive_nodes()) >= count:
                    return
            except (subprocess.SubprocessError, ValueError, IndexError):
                pass  # the head is not listening yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} Ray nodes not alive after {timeout:.0f} s: {self.node_log(0)}")
            time.sleep(2)

    def node_log(self, index: int, chars: int = 4000) -> str:
        path = self.log_dir / f"ray_node_{index}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "<no log>"

    def stop(self) -> None:
        """SIGTERM to each node's ``ray start`` (it stops that node's Ray processes), SIGKILL to its session after."""
        for process in reversed(self._nodes):  # workers first: the head's GCS outlives its raylets
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # anything of this node that outlived the graceful stop
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
        self._nodes.clear()
        for pid in self.leftover_pids():  # e.g. a worker a raylet left behind: it names this cluster's temp dir
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def leftover_pids(self) -> list[int]:
        """Running processes whose command line names this cluster's private temp dir (only its Ray processes do)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if self.temp_dir.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:  # exited meanwhile, or not ours to read
                continue
        return pids

    def __enter__(self) -> LocalRayCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
