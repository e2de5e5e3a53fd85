"""Framework-free AERO core (numpy only, no verl import): config, strata, rescue planner, curation,
Beta posterior, advantages, pass@k and FLOPs estimates. The verl glue imports from here."""

from recipe.aero.core.advantages import aero_advantages, group_mean_std, grpo_advantages
from recipe.aero.core.config import AeroConfig, AeroConfigError
from recipe.aero.core.curation import CurationResult, curate_batch, stable_key_hash
from recipe.aero.core.curation_rules import register_curation_rule
from recipe.aero.core.groups import group_by
from recipe.aero.core.passk import avg_at_k, pass_at_k
from recipe.aero.core.posterior import PosteriorStore, posterior_advantage, step_posterior_mean
from recipe.aero.core.rescue import next_round_size, next_round_sizes
from recipe.aero.core.strata import Stratum, rollout_success, stratify

__all__ = [
    "AeroConfig",
    "AeroConfigError",
    "CurationResult",
    "PosteriorStore",
    "Stratum",
    "aero_advantages",
    "avg_at_k",
    "curate_batch",
    "group_by",
    "group_mean_std",
    "grpo_advantages",
    "next_round_size",
    "next_round_sizes",
    "pass_at_k",
    "posterior_advantage",
    "register_curation_rule",
    "rollout_success",
    "stable_key_hash",
    "step_posterior_mean",
    "stratify",
]
