"""The config dataclasses are the one source of every ``algorithm.aero.*`` and ``trainer.v1.aero.*`` default.

``recipe/aero/config/aero_trainer.yaml`` (what Hydra composes) and the README configuration tables (what users
read) are copies; these tests fail as soon as a key or a default differs between a copy and the dataclass.
"""

import dataclasses
import math
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from recipe.aero.core.config import CONFIG_PREFIX, TRAINER_CONFIG_PREFIX, AeroConfig, AeroTrainerConfig

ROOT = Path(__file__).resolve().parents[2]
YAML = ROOT / "recipe" / "aero" / "config" / "aero_trainer.yaml"
README = ROOT / "README.md"
SOURCES = [(AeroConfig, CONFIG_PREFIX), (AeroTrainerConfig, TRAINER_CONFIG_PREFIX)]


def _readme_value(cell: str) -> object:
    """A README default cell as a python value: null, true/false, int, float, else the bare string."""
    cell = cell.strip().strip("`")
    if cell == "null":
        return None
    if cell in ("true", "false"):
        return cell == "true"
    for parse in (int, float):
        try:
            return parse(cell)
        except ValueError:
            pass
    return cell


def readme_defaults(prefix: str, text: str) -> dict[str, object]:
    """``{key: default}`` from the README table whose header cell is `` `<prefix>.*` ``.

    A row may document several keys at once (`` `prior_alpha`, `prior_beta` | 1.0, 1.0``).
    """
    header = f"| `{prefix}.*` | default |"
    lines = text.splitlines()
    starts = [number for number, line in enumerate(lines) if line.startswith(header)]
    assert len(starts) == 1, f"README needs exactly one table headed {header!r}, found {len(starts)}"
    defaults: dict[str, object] = {}
    for line in lines[starts[0] + 2 :]:
        if not line.startswith("|"):
            break
        keys_cell, default_cell = line.split("|")[1:3]
        keys = re.findall(r"`([^`]+)`", keys_cell)
        values = default_cell.split(",") if len(keys) > 1 else [default_cell]
        assert len(keys) == len(values), f"README row {line!r}: {len(keys)} keys but {len(values)} defaults"
        for key, value in zip(keys, values, strict=True):
            assert key not in defaults, f"README documents {prefix}.{key} twice"
            defaults[key] = _readme_value(value)
    return defaults


def yaml_defaults(prefix: str) -> dict[str, object]:
    block = OmegaConf.select(OmegaConf.load(YAML), prefix)
    assert block is not None, f"{YAML.name} has no {prefix} block"
    return OmegaConf.to_container(block)


def _same(value: object, default: object) -> bool:
    """Equal, with the dataclass's types: an int where a float is expected is accepted (AeroConfig converts it)."""
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isclose(value, default)
    return type(value) is type(default) and value == default


def _assert_same(source: dict, copy: dict, where: str, prefix: str) -> None:
    missing, extra = sorted(set(source) - set(copy)), sorted(set(copy) - set(source))
    assert not missing and not extra, f"{where}: {prefix} keys missing {missing}, not in the dataclass {extra}"
    for key, default in source.items():
        assert _same(copy[key], default), f"{where}: {prefix}.{key} is {copy[key]!r}, the dataclass says {default!r}"


@pytest.mark.parametrize(("config_class", "prefix"), SOURCES, ids=[p for _, p in SOURCES])
def test_yaml_block_matches_the_dataclass(config_class, prefix):
    _assert_same(dataclasses.asdict(config_class()), yaml_defaults(prefix), YAML.name, prefix)


@pytest.mark.parametrize(("config_class", "prefix"), SOURCES, ids=[p for _, p in SOURCES])
def test_readme_table_matches_the_dataclass(config_class, prefix):
    _assert_same(dataclasses.asdict(config_class()), readme_defaults(prefix, README.read_text()), README.name, prefix)


def test_every_yaml_key_has_its_own_comment():
    """dapo style: one comment per key, so the yaml stays readable as the user's reference."""
    lines = YAML.read_text().splitlines()
    for prefix in (CONFIG_PREFIX, TRAINER_CONFIG_PREFIX):
        for key in yaml_defaults(prefix):
            number = next(i for i, line in enumerate(lines) if re.match(rf"\s+{key}:", line))
            assert lines[number - 1].strip().startswith("#"), f"{YAML.name}: {prefix}.{key} has no comment above it"


def test_the_readme_parser_sees_a_disagreement():
    """The parser itself can fail: a table that differs from the dataclass in one value is reported."""
    text = "| `algorithm.aero.*` | default | meaning |\n|---|---|---|\n| `budget` | 16 | max |\n| `a`, `b` | 1.0, x | |"
    assert readme_defaults(CONFIG_PREFIX, text) == {"budget": 16, "a": 1.0, "b": "x"}
    with pytest.raises(AssertionError, match="budget is 16"):
        _assert_same({"budget": 8, "a": 1.0, "b": "x"}, readme_defaults(CONFIG_PREFIX, text), "README", CONFIG_PREFIX)
