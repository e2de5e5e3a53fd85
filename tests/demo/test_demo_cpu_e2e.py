"""End to end: ``run_scripts/run_cpu_demo.sh --quick`` trains GRPO and AERO with the real verl trainer on CPU and
writes the paper-style report (about 3 minutes with cached assets; the first run also builds them)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_quick_cpu_demo_produces_the_comparison(tmp_path):
    env = dict(os.environ)
    # The caller may already hold the shared heavy-run lock (flock ... pytest): a private lock avoids a deadlock.
    env.update({"OUT_DIR": str(tmp_path / "demo"), "HEAVY_LOCK": str(tmp_path / "lock")})
    done = subprocess.run(
        ["bash", "run_scripts/run_cpu_demo.sh", "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert done.stdout.count("[demo]") >= 7  # one line per phase

    spread = json.loads((REPO / ".cache" / "cpu_demo" / "initial_success.json").read_text())
    assert spread["share_zero"] >= 0.3 and spread["share_all"] > 0  # the warm start's success spread

    summary = json.loads((tmp_path / "demo" / "report" / "summary.json").read_text())
    arms = {arm["name"]: arm for arm in summary["arms"]}
    assert set(arms) == {"grpo", "aero"} and summary["baseline"] == "grpo"
    for arm in arms.values():
        assert arm["num_train_steps"] == 4 and arm["final_val_step"] == 4
        assert arm["final_val"]["synthetic_arith"]["pass"] is not None
    grpo, aero = arms["grpo"]["cumulative"], arms["aero"]["cumulative"]
    assert grpo["gen_rollouts"] == 4 * 8 * 8
    assert aero["gen_rollouts"] <= grpo["gen_rollouts"]  # same per-prompt budget, adaptive use of it
    assert aero["total_flops"] < grpo["total_flops"]
    for png in ("accuracy_vs_compute.png", "step_time.png", "zero_adv_share.png"):
        assert (tmp_path / "demo" / "report" / png).is_file()
