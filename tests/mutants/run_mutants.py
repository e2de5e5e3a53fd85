"""Breaks the code one line at a time and checks that the non-e2e suite notices (issue: trust under failure).

Each mutant is a (file, original text, broken text) triple: the script applies it, runs
``pytest -x -q -m "not e2e"`` (stopping at the first failure), restores the file whatever happens, and prints the
first failing test, or SURVIVED. Not collected by pytest (no ``test_`` prefix); run it by hand:

    python tests/mutants/run_mutants.py [NAME ...]
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The whole non-e2e suite, the fast unit tests first so that a killed mutant stops early.
SUITE_ORDER = [
    "tests/unit",
    "tests/integration",
    "tests/launchers",
    "tests/reward",
    "tests/data_prep",
    "tests/demo",
    "tests/test_lint.py",
]

MUTANTS: dict[str, tuple[str, str, str]] = {
    "posterior updated twice per step": (
        "recipe/aero/trainer.py",
        "        group_p = self._update_posterior(record, metrics)\n",
        "        self._update_posterior(record, metrics)\n        group_p = self._update_posterior(record, metrics)\n",
    ),
    "posterior updated with kept counts": (
        "recipe/aero/trainer.py",
        "self.posterior.update(record.prompt_keys, record.n_correct, record.n_generated)",
        "self.posterior.update(record.prompt_keys, np.bincount(record.group_index, weights=record.kept & "
        "record.success).astype(int), np.bincount(record.group_index, weights=record.kept).astype(int))",
    ),
    "training FLOPs over generated tokens": (
        "recipe/aero/accounting.py",
        "        train_prompt_tokens=int(record.prompt_tokens[kept].sum()),\n"
        "        train_response_tokens=int(record.response_tokens[kept].sum()),\n",
        "        train_prompt_tokens=int(record.prompt_tokens.sum()),\n"
        "        train_response_tokens=int(record.response_tokens.sum()),\n",
    ),
    "AERO state written after verl's latest marker": (
        "recipe/aero/trainer.py",
        "        write_state_atomically(os.path.join(folder, STATE_FILE), state)\n"
        "        # verl writes latest_checkpointed_iteration.txt last, so a checkpoint it marks always has our state.\n"
        "        super()._save_checkpoint()\n",
        "        super()._save_checkpoint()\n        write_state_atomically(os.path.join(folder, STATE_FILE), state)\n",
    ),
    "validation success judged by score": (
        "recipe/aero/trainer.py",
        "        if correct is None or any(value is None for value in correct):\n",
        "        if True:\n",
    ),
    "Dr. GRPO ignored with advantage_stats=generated": (
        "recipe/aero/estimator.py",
        '            _per_group("generated_std", generated_std, real, group_index),\n            scale_by_std,\n',
        '            _per_group("generated_std", generated_std, real, group_index),\n            True,\n',
    ),
    "update sizing ignored (samples sized as steps)": (
        "recipe/aero/core/update_sizing.py",
        '    if sizing == "steps":\n',
        '    if sizing in ("steps", "samples"):\n',
    ),
    "degenerate weight from the context ignored": (
        "recipe/aero/estimator.py",
        "        degenerate_weight = context.degenerate_weight\n",
        "        degenerate_weight = 1.0\n",
    ),
    "failure skips never stop the run": (
        "recipe/aero/trainer.py",
        "            if self._failed_steps_in_a_row >= self.trainer_aero.max_failed_steps:\n",
        "            if False:\n",
    ),
    "resume accepts a changed success_key": (
        "recipe/aero/trainer.py",
        "    for key in STATE_DEFINING_KEYS:\n        if key in changed:\n",
        "    for key in ():\n        if key in changed:\n",
    ),
    "failed rollouts' tokens left out of generation compute": (
        "recipe/aero/accounting.py",
        "record.response_tokens.sum() + record.aborted_response_tokens.sum() + record.failed_response_tokens",
        "record.response_tokens.sum() + record.aborted_response_tokens.sum()",
    ),
    "rescue ignores its successes (runs to the budget)": (
        "recipe/aero/agent_loop.py",
        "                n_correct += sum(result is True for result in results)\n",
        "                n_correct += 0\n",
    ),
    "a planner error publishes the prompt as finished": (
        "recipe/aero/agent_loop.py",
        "        except Exception as error:\n            failure = error\n",
        '        except Exception as error:\n            failure = error\n            status = "finished"\n',
    ),
}


def run(name: str) -> str:
    path_text, original, broken = MUTANTS[name]
    path = ROOT / path_text
    source = path.read_text()
    if source.count(original) != 1:
        return f"NOT APPLIED: the original text occurs {source.count(original)} times in {path_text}"
    try:
        path.write_text(source.replace(original, broken))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not e2e", "-p", "no:cacheprovider", *SUITE_ORDER],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_text(source)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", result.stdout, re.MULTILINE)
    return f"killed by {failed[0]}" if result.returncode and failed else f"SURVIVED (pytest exit {result.returncode})"


def main(names: list[str]) -> int:
    survived = 0
    for name in names or list(MUTANTS):
        verdict = run(name)
        survived += not verdict.startswith("killed")
        print(f"{name}: {verdict}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
