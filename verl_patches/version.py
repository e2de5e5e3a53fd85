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
