"""Deadline-bounded math equivalence: a small pool of :mod:`verify_worker` child processes, killed on timeout.

Why: the reward runs in executor threads of verl's reward-loop workers, where math_verify's ``signal.alarm`` timeout
cannot be used, and a hung sympy call would otherwise stall a whole Ray worker. Each request gets a wall-clock
deadline; a worker that misses it is killed and replaced, so a timeout costs one process restart, never a crash.
Thread-safe: concurrent callers each borrow an idle worker from a queue.
"""

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time

STARTUP_TIMEOUT_S = 120.0  # importing sympy on a loaded node can take tens of seconds; not the request deadline


class VerifyTimeout(TimeoutError):
    """The equivalence check missed its deadline (the worker was killed)."""


class VerifyError(RuntimeError):
    """The worker raised while parsing/comparing, or died."""


class _Worker:
    """One child process speaking JSON lines; (re)started lazily, killed when a request misses its deadline."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._buffer = b""

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "recipe.aero.reward.verify_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._buffer = b""
        if "ready" not in self._read_line(time.monotonic() + STARTUP_TIMEOUT_S):
            raise VerifyError("math_verify worker did not start")

    def _read_line(self, deadline: float) -> dict:
        """Reads one JSON line from the child before ``deadline``; kills the child and raises on timeout."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            readable = select.select([fd], [], [], max(remaining, 0.0))[0] if remaining > 0 else []
            if not readable:
                self.kill()
                raise VerifyTimeout("math_verify deadline exceeded")
            chunk = os.read(fd, 65536)
            if not chunk:
                self.kill()
                raise VerifyError("math_verify worker exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def equivalent(self, gold: str, pred: str, timeout_s: float) -> bool:
        """Sends one request; the deadline starts after a (re)start so start-up time is never charged to it."""
        if self._process is None or self._process.poll() is not None:
            self._start()
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.write((json.dumps({"gold": gold, "pred": pred}) + "\n").encode())
            self._process.stdin.flush()
        except BrokenPipeError as error:
            self.kill()
            raise VerifyError("math_verify worker exited") from error
        reply = self._read_line(time.monotonic() + timeout_s)
        if "error" in reply:
            raise VerifyError(reply["error"])
        return bool(reply["equal"])

    def kill(self) -> None:
        """Kills the child (if any) and forgets it; the next request starts a fresh one."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


class VerifierPool:
    """``num_workers`` lazily started workers shared by the threads of one process."""

    def __init__(self, num_workers: int) -> None:
        if num_workers < 1:
            raise ValueError(f"verifier num_workers must be >= 1, got {num_workers}")
        self._workers = [_Worker() for _ in range(num_workers)]
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for worker in self._workers:
            self._idle.put(worker)

    def equivalent(self, gold: str, pred: str, timeout_s: float) -> bool:
        """True when math_verify finds ``pred`` equal to ``gold``; raises VerifyTimeout / VerifyError otherwise."""
        worker = self._idle.get()
        try:
            return worker.equivalent(gold, pred, timeout_s)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        """Kills every worker (registered with atexit for the process-wide pool)."""
        for worker in self._workers:
            worker.kill()


_pool: VerifierPool | None = None
_pool_lock = threading.Lock()


def shared_pool(num_workers: int) -> VerifierPool:
    """The process-wide pool, created on first use with ``num_workers`` workers (later sizes are ignored)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = VerifierPool(num_workers)
            atexit.register(_pool.close)
        return _pool
