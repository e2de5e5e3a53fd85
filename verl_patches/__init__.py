"""Small, version-checked changes to verl 0.9.1's runtime behaviour, one module per patch.

Each patch module names the upstream symbol it replaces and why, and refuses to apply on any verl
other than the pinned version (see :func:`verl_patches.version.require_pinned_verl`).
"""
