"""constraints-gpu.txt agrees with verl 0.9.1's own metadata, with the recipe's CPU pins, and with the README.

The GPU stack cannot be installed here (no GPU, multi-GB CUDA wheels); these checks read the installed verl wheel's
``Requires-Dist`` (base requirements, the ``vllm``, ``verl-core`` and ``flash-attn`` extras) so a pin that verl
would reject, or that differs from what verl's ``vllm`` extra pins, fails here. The full set was also resolved from
PyPI metadata for Python 3.10-3.12 (README, "GPU install").
"""

import re
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
RECIPE_PINS = ("verl", "transferqueue", "tensordict", "math-verify")  # the recipe's tested versions, CPU and GPU


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements/constraints file, by canonical name."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            found[canonicalize_name(requirement.name)] = spec.version
    return found


GPU_PINS = pins(REPO / "constraints-gpu.txt")


def verl_requirements(extras: set[str]) -> list[Requirement]:
    """verl's Requires-Dist entries that apply with ``extras`` (base requirements always apply)."""
    selected = []
    for line in requires("verl"):
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
            selected.append(requirement)
    return selected


def test_verl_pin_is_the_installed_verl():
    assert GPU_PINS["verl"] == version("verl") == "0.9.1"


@pytest.mark.parametrize(
    "requirement",
    verl_requirements({"vllm", "verl-core", "math", "flash-attn-cu130torch211"}),
    ids=str,
)
def test_every_pin_satisfies_verl(requirement):
    name = canonicalize_name(requirement.name)
    if name in GPU_PINS:
        assert requirement.specifier.contains(GPU_PINS[name], prereleases=True), (
            f"constraints-gpu.txt pins {name}=={GPU_PINS[name]} but verl 0.9.1 requires {requirement}"
        )


def test_vllm_extra_pins_are_all_pinned():
    """Everything verl's vllm extra pins exactly is pinned to that version (transformers 5.9.0, not 5.3 or 5.10)."""
    exact = {
        canonicalize_name(r.name): next(iter(r.specifier)).version
        for r in verl_requirements({"vllm"})
        if r.marker is not None and len(r.specifier) == 1 and next(iter(r.specifier)).operator == "=="
    }
    assert exact.keys() >= {"torch", "vllm", "transformers"}
    assert {name: GPU_PINS.get(name) for name in exact} == exact


def test_recipe_pins_match_the_cpu_test_stack():
    cpu = pins(REPO / "requirements.txt")
    assert {name: GPU_PINS[name] for name in RECIPE_PINS} == {name: cpu[name] for name in RECIPE_PINS}


def test_readme_gpu_install_lists_exactly_these_versions():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### GPU install", 1)[1].split("\n### ", 1)[0]
    assert "-c constraints-gpu.txt" in section
    listed = {canonicalize_name(name): ver for name, ver in re.findall(r"`([A-Za-z0-9_.-]+)==([0-9][^`\s]*)`", section)}
    assert listed == GPU_PINS
