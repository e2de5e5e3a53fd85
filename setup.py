"""Installs the AERO recipe for verl 0.9.1.

Packages: ``recipe.aero`` (``recipe`` is a namespace package, shared with other recipe packages; what a GPU user
runs), ``verl_patches`` (small, version-checked changes to verl's runtime behaviour), ``data_prep`` (offline
dataset preparation) and ``aero_cpu`` (the CPU harness: tiny assets, the synthetic task and its reward, the
subprocess launcher used by the tests, the CPU demo and the benchmarks). Imports run one way:
``aero_cpu`` -> ``data_prep`` -> ``recipe.aero``; the recipe imports neither.
The ``verl.plugins`` entry points make every process that runs ``import verl`` (the driver and every Ray
worker) register AERO with verl's registries.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent


# What the recipe itself needs, as ranges both stacks satisfy: the CPU pins (requirements.txt, which _venv.sh installs
# with -r) and the GPU pins (constraints-gpu.txt, verl's image). Pinning the CPU stack here made `pip check` in the GPU
# image report transformers / ray / hydra mismatches after `pip install --no-deps -e .`. Everything else (torch, ray,
# hydra, transformers, tensordict) comes from verl 0.9.1's own requirements.
INSTALL_REQUIRES = ["verl==0.9.1", "TransferQueue>=0.1.10", "math-verify>=0.9.0"]


setup(
    name="verl-recipe-aero",
    version="0.1.0",
    description="AERO (arXiv 2602.14338): adaptive efficient rollout optimisation for GRPO-style RLVR, a verl recipe",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_namespace_packages(
        include=[
            "recipe.aero",
            "recipe.aero.*",
            "verl_patches",
            "verl_patches.*",
            "data_prep",
            "data_prep.*",
            "aero_cpu",
            "aero_cpu.*",
        ]
    ),
    package_data={"recipe.aero": ["config/*.yaml", "REQUIRED_VERL.txt", "README.md"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=8", "pytest-asyncio", "hypothesis", "ruff==0.17.6"],
        "report": ["matplotlib"],
    },
    entry_points={
        # Loaded by verl/__init__.py in every process, sorted by name: the CPU patches (platform) before the recipe.
        "verl.plugins": [
            "aero_cpu_patches = verl_patches.plugin",
            "aero_recipe = recipe.aero.register",
        ],
        # Loaded by vLLM in every process it starts (engine core, workers): vLLM-side CPU patches.
        "vllm.general_plugins": [
            "aero_cpu_vllm_patches = verl_patches.vllm_plugin:register",
        ],
    },
)
