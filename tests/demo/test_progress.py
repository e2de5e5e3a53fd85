"""The main job's console progress (``aero_cpu/progress.py``) on a real run's log, written as verl writes it."""

import gzip
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

from aero_cpu.progress import Follower

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "docs" / "results" / "cpu_comparison_2026-12-07" / "runs" / "aero_samples_s0" / "metrics.jsonl.gz"


def test_one_line_per_step_and_per_validation_even_when_a_line_arrives_in_pieces(tmp_path):
    raw = gzip.decompress(RUN.read_bytes())
    path, out = tmp_path / "metrics.jsonl", StringIO()
    follower = Follower(path, "aero", 40, out)
    follower.poll()  # the file does not exist yet
    cut = raw.index(b"\n", len(raw) // 2) + 20  # halfway through a line
    path.write_bytes(raw[:cut])
    follower.poll()
    path.write_bytes(raw)
    follower.poll()
    lines = out.getvalue().splitlines()
    steps = [line for line in lines if "s/step" in line]
    validations = [line for line in lines if "held-out" in line]
    assert [line.split()[2] for line in steps] == [f"{k}/40" for k in range(1, 41)]
    assert [line.split()[2] for line in validations] == [f"{k}/40" for k in (0, 10, 20, 30, 40)]
    assert steps[-1].endswith("ETA 0m00s") and " solved 0." in steps[0]
    assert validations[0].startswith("[aero] step 0/40 held-out synthetic_arith Avg@64 0.3")


def test_sigterm_prints_what_the_file_still_holds_and_exits(tmp_path):
    raw = gzip.decompress(RUN.read_bytes())
    path = tmp_path / "metrics.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "aero_cpu.progress", str(path), "--arm", "aero", "--steps", "40", "--interval", "30"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    time.sleep(2)  # started and asleep, the file still missing
    path.write_bytes(raw)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert sum("s/step" in line for line in out.splitlines()) == 40
