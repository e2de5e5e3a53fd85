"""Hydra configs of the AERO recipe (a package so Hydra can find them as pkg://recipe.aero.config)."""
