"""``run_scripts/run_cpu_seeds.sh``'s ablations: each names a real ``algorithm.aero`` key with a valid value that
differs from the default, and an unknown name is refused before anything runs."""

import re
import subprocess
from pathlib import Path

import yaml

from recipe.aero.core.config import AeroConfig

SCRIPT = Path(__file__).parents[2] / "run_scripts" / "run_cpu_seeds.sh"
ENTRY = re.compile(r'^\s*\[(\w+)\]="([^"]+)"', re.MULTILINE)


def _ablations() -> dict[str, list[str]]:
    return {name: overrides.split() for name, overrides in ENTRY.findall(SCRIPT.read_text())}


def test_every_ablation_changes_valid_aero_keys_away_from_their_defaults():
    ablations = _ablations()
    assert {"decay0", "decay1", "keep0", "stats_generated", "reject2", "mirror", "race", "guided"} <= set(ablations)
    default = AeroConfig()
    for name, overrides in ablations.items():
        values = {}
        for override in overrides:
            key, value = override.split("=", 1)
            assert key.startswith("algorithm.aero."), (name, override)
            values[key.removeprefix("algorithm.aero.")] = yaml.safe_load(value)
        changed = AeroConfig.from_mapping(values)  # raises, naming the key, on a bad key or value
        assert all(getattr(changed, key) != getattr(default, key) for key in values), name


def test_unknown_ablation_is_refused_before_anything_runs(tmp_path):
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={"ABLATIONS": "decay0 nonsense", "OUT_DIR": str(tmp_path / "out"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown ablation 'nonsense'" in result.stderr and "decay0" in result.stderr
    assert not (tmp_path / "out").exists()
