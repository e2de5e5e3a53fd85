"""One console line per training step of a running arm, read from verl's file-logger JSONL as it grows.

The main job sends each arm's console output to its log file, so without this the terminal shows nothing for the
minutes an arm trains. ``run_scripts/run_cpu_demo.sh`` starts this next to each arm and stops it with SIGTERM when
the arm ends; on SIGTERM it reads what the file still holds, prints it and exits. A line looks like

    [aero] step 7/40  4.1 s/step  solved 0.81  ETA 2m05s
    [aero] step 10/40 held-out synthetic_arith Avg@64 0.512

``solved`` is the share of the step's prompts with at least one correct rollout (``aero/nonzero_acc_share/
after_rescue``, logged alike for both arms); held-out Avg@k is the recipe's ``aero_val/<source>/avg@<n>`` (Avg over all
n samples).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

SOLVED = "aero/nonzero_acc_share/after_rescue"
STEP_SECONDS = "timing_s/step"


def step_lines(record: dict, arm: str, total_steps: int, seconds: list[float]) -> list[str]:
    """The console lines of one verl file-logger record; ``seconds`` collects the steps' times for the ETA."""
    step, data = record.get("step"), record.get("data") or {}
    lines = []
    if STEP_SECONDS in data:
        seconds.append(float(data[STEP_SECONDS]))
        per_step = sum(seconds) / len(seconds)
        eta = int(per_step * max(total_steps - int(step), 0))
        solved = f"  solved {data[SOLVED]:.2f}" if SOLVED in data else ""
        timing = f"{data[STEP_SECONDS]:.1f} s/step{solved}  ETA {eta // 60}m{eta % 60:02d}s"
        lines.append(f"[{arm}] step {step}/{total_steps}  {timing}")
    for name in sorted(data):
        if name.startswith("aero_val/") and "/avg@" in name:
            source, n = name.split("/")[1], name.rsplit("@", 1)[1]
            lines.append(f"[{arm}] step {step}/{total_steps} held-out {source} Avg@{n} {data[name]:.3f}")
    return lines


class Follower:
    """Reads complete lines appended to ``path`` (which may not exist yet) and prints their console lines."""

    def __init__(self, path: Path, arm: str, total_steps: int, out: TextIO):
        self.path, self.arm, self.total_steps, self.out = path, arm, total_steps, out
        self.offset = 0
        self.seconds: list[float] = []

    def poll(self) -> None:
        if not self.path.is_file():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next poll
        self.offset += len(complete)
        for raw in complete.splitlines():
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                continue  # the file logger writes whole lines; anything else is not ours to report
            for line in step_lines(record, self.arm, self.total_steps, self.seconds):
                print(line, file=self.out, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", type=Path, help="verl's file-logger JSONL of the running arm")
    parser.add_argument("--arm", required=True)
    parser.add_argument("--steps", type=int, required=True, help="the run's total training steps, for the ETA")
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    follower = Follower(args.metrics, args.arm, args.steps, sys.stdout)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    while not stopping:
        follower.poll()
        time.sleep(args.interval)
    follower.poll()
    return 0


if __name__ == "__main__":
    sys.exit(main())
