"""setup.py's ``install_requires`` is satisfied by both pinned stacks, so ``pip check`` passes on either.

Why: ``pip install --no-deps -e .`` in verl's GPU image left ``pip check`` reporting the CPU pins (transformers, Ray,
Hydra) while ``install_requires`` was read from ``requirements.txt``. It now holds only what the recipe itself needs.
"""

import ast
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def install_requires() -> list[Requirement]:
    """``INSTALL_REQUIRES`` read from setup.py's source (running setup.py would build)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    value = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "INSTALL_REQUIRES" for t in node.targets)
    )
    return [Requirement(spec) for spec in ast.literal_eval(value)]


def pins(name: str) -> dict[str, str]:
    """``{package: version}`` of the ``==`` lines of a requirements / constraints file."""
    found = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
    return found


@pytest.mark.parametrize("stack", ["requirements.txt", "constraints-gpu.txt"])
def test_install_requires_is_satisfied_by_each_pinned_stack(stack):
    pinned = pins(stack)
    for requirement in install_requires():
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not pinned in {stack}"
        assert requirement.specifier.contains(version), f"{stack} pins {requirement.name}=={version}: {requirement}"


def test_install_requires_leaves_the_stack_to_verl():
    """No torch, Ray, Hydra or transformers of our own: verl 0.9.1's requirements (and the image) decide them."""
    names = {canonicalize_name(r.name) for r in install_requires()}
    assert names == {"verl", "transferqueue", "math-verify"}
