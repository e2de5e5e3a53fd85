"""AERO's knobs (DESIGN.md §3) as validated, immutable objects.

The algorithm's knobs live under ``algorithm.aero`` (:class:`AeroConfig`), the trainer's under ``trainer.v1.aero``
(:class:`AeroTrainerConfig`). These dataclasses are the single source of the defaults and the valid ranges
(``aero_trainer.yaml`` and the README tables are checked against them by ``tests/unit/test_aero_config_sources.py``),
so a bad value is refused at start-up (before Ray, models or data are touched) with a message that names the
offending key and its value.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeVar

from recipe.aero.core.curation_rules import GROUP_KINDS, curation_rule_names
from recipe.aero.core.update_sizing import UPDATE_SIZINGS

CONFIG_PREFIX = "algorithm.aero"
TRAINER_CONFIG_PREFIX = "trainer.v1.aero"

POSTERIOR_SCOPES = ("degenerate", "all")
ADVANTAGE_STATS = ("kept", "generated")
# The two halves of AERO (DESIGN.md §2.11), each switchable on its own under adv_estimator=aero.
ROLLOUT_MODES = ("adaptive", "fixed")
ADVANTAGE_MODES = ("posterior", "grpo")

_INT_KEYS = (
    "n_explore",
    "budget",
    "n_extra",
    "min_incorrect_kept",
    "degenerate_keep",
    "seed",
    "n_explore_known_solved",
)
_BOOL_KEYS = ("guided_exploration", "rescue_race")
_FLOAT_KEYS = (
    "rescue_threshold",
    "low_success_threshold",
    "reject_ratio",
    "prior_alpha",
    "prior_beta",
    "posterior_decay",
    "success_threshold",
    "epsilon",
    "known_solved_mean",
    "known_failing_mean",
    "guidance_min_evidence",
    "degenerate_loss_share",
)
_STR_KEYS = (
    "rollout",
    "advantage",
    "low_success_curation",
    "high_success_curation",
    "degenerate_curation",
    "posterior_scope",
    "advantage_stats",
    "success_key",
    "update_sizing",
)


class AeroConfigError(ValueError):
    """An ``algorithm.aero`` or ``trainer.v1.aero`` value has the wrong type, is out of range, or is inconsistent
    with another key."""


def _refuse(key: str, value: Any, why: str, prefix: str = CONFIG_PREFIX) -> AeroConfigError:
    return AeroConfigError(f"{prefix}.{key}={value!r}: {why}")


_Config = TypeVar("_Config", bound="_FromMapping")


class _FromMapping:
    """``from_mapping`` shared by the config dataclasses; ``PREFIX`` is where the block lives."""

    PREFIX = CONFIG_PREFIX

    @classmethod
    def from_mapping(cls: type[_Config], mapping: Mapping[str, Any] | Any | None) -> _Config:
        """Builds the config from its block (a dict, an OmegaConf DictConfig or None for all defaults).

        Duck-typed on ``keys()``/``__getitem__`` so this module needs no OmegaConf import; DictConfig
        interpolations are resolved by its ``__getitem__``.

        Raises:
            AeroConfigError: for an unknown key (a typo would otherwise silently keep the default) or any
                invalid value; the message names ``<PREFIX>.<key>`` and the value.
        """
        if mapping is None:
            return cls()
        if not hasattr(mapping, "keys") or not hasattr(mapping, "__getitem__"):
            raise AeroConfigError(f"{cls.PREFIX} must be a mapping, got {type(mapping).__name__}: {mapping!r}")
        known = {field.name for field in dataclasses.fields(cls)}
        values = {}
        for key in mapping.keys():
            if key not in known:
                raise _refuse(str(key), mapping[key], f"unknown key; known keys: {sorted(known)}", cls.PREFIX)
            values[key] = mapping[key]
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class AeroConfig(_FromMapping):
    """Validated AERO hyper-parameters; field names and defaults are DESIGN.md §3 (the paper-reading contract).

    Attributes:
        rollout: ``adaptive``: explore, rescue and curate (AERO's rollout half); ``fixed``: verl's ``rollout.n``
            rollouts per prompt, all trained (GRPO's). Read only with ``adv_estimator=aero``.
        advantage: ``posterior``: AERO's advantages (posterior for degenerate groups); ``grpo``: verl's ``grpo``
            estimator over the trained rows. Read only with ``adv_estimator=aero``.
        n_explore: Stage I rollouts per prompt.
        budget: Maximum rollouts per prompt including rescue (the GRPO group size compared against).
        n_extra: Rollouts per rescue round.
        rescue_threshold: A prompt whose success rate u is at or below this is rescued.
        low_success_threshold: Boundary between the low- and high-success strata.
        reject_ratio: k in m = k * c (incorrect rollouts kept per correct one in a low-success group).
        min_incorrect_kept: Floor on m.
        low_success_curation: Registered rule for mixed low-success groups; ``rejection`` keeps every correct
            rollout and a balanced random share of the incorrect ones.
        high_success_curation: Registered rule for mixed high-success groups; ``none`` keeps them whole,
            ``mirror`` curates them with correct/incorrect roles swapped.
        degenerate_curation: Registered rule for degenerate groups; ``subsample`` keeps ``degenerate_keep``.
        prior_alpha: Beta prior pseudo-successes.
        prior_beta: Beta prior pseudo-failures.
        posterior_decay: Forgetting factor of past steps' counts, in [0, 1].
        posterior_scope: ``degenerate`` uses the posterior only for degenerate groups; ``all`` everywhere.
        degenerate_keep: Rollouts kept from a degenerate group (0 drops it).
        advantage_stats: ``kept`` or ``generated``: which rollouts give a mixed group's mean and std.
        success_key: reward-extra-info key marking success; falls back to score > success_threshold.
        success_threshold: Score above which a rollout counts as a success.
        seed: Curation randomness, combined with the step and a stable hash of the prompt id.
        epsilon: Added to the std (GRPO and posterior advantages), as verl's ``grpo`` does.
        guided_exploration: Posterior-guided first rounds (DESIGN.md §2.1, our variant; off = the paper's AERO).
        n_explore_known_solved: First-round rollouts of a prompt the posterior knows to be solved.
        known_solved_mean: Posterior mean at or above which a prompt with enough evidence is known solved.
        known_failing_mean: Posterior mean at or below which a prompt with enough evidence is known failing; it
            gets its whole budget in the first round.
        guidance_min_evidence: Observed pseudo-counts (alpha + beta - prior_alpha - prior_beta) a prompt needs
            before guidance trusts its posterior.
        rescue_race: Rescue in one round of the whole remaining budget whose still-running siblings are aborted at
            the first success (DESIGN.md §2.3, our variant; off = the paper's rounds of ``n_extra``). Aborted
            rollouts are counted (``aero/race/*``) and never trained.
        update_sizing: How the update of the curated batch is sized (DESIGN.md §2.8, open in the paper): ``steps``
            takes GRPO's number of optimizer steps per epoch; ``samples`` gives each optimizer step GRPO's mini-batch
            in trajectories (``ppo_mini_batch_size x budget``), so the number of steps follows the kept rollouts.
        degenerate_loss_share: Largest share of a batch's loss weight that degenerate (posterior-advantage) groups
            may carry (DESIGN.md §2.6, our variant, beyond the paper); their rows' advantages are scaled by
            ``min(1, s / (1 - s) x mixed rows / degenerate rows)``. 1 = no cap (the paper's AERO); 0.5 = together
            they count no more than the mixed groups.
    """

    rollout: str = "adaptive"
    advantage: str = "posterior"
    n_explore: int = 4
    budget: int = 8
    n_extra: int = 2
    rescue_threshold: float = 0.0
    low_success_threshold: float = 0.5
    reject_ratio: float = 1.0
    min_incorrect_kept: int = 1
    low_success_curation: str = "rejection"
    high_success_curation: str = "none"
    degenerate_curation: str = "subsample"
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    posterior_decay: float = 0.5
    posterior_scope: str = "degenerate"
    degenerate_keep: int = 4
    advantage_stats: str = "kept"
    success_key: str = "acc"
    success_threshold: float = 0.0
    seed: int = 0
    epsilon: float = 1e-6
    guided_exploration: bool = False
    n_explore_known_solved: int = 2
    known_solved_mean: float = 0.75
    known_failing_mean: float = 0.2
    guidance_min_evidence: float = 2.0
    rescue_race: bool = False
    update_sizing: str = "samples"
    degenerate_loss_share: float = 1.0

    def __post_init__(self) -> None:
        self._check_types()
        self._check_ranges()

    def _check_types(self) -> None:
        for key in _INT_KEYS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise _refuse(key, value, "must be an integer")
            object.__setattr__(self, key, int(value))
        for key in _FLOAT_KEYS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise _refuse(key, value, "must be a finite number")
            object.__setattr__(self, key, float(value))
        for key in _STR_KEYS:
            value = getattr(self, key)
            if not isinstance(value, str):
                raise _refuse(key, value, "must be a string")
        for key in _BOOL_KEYS:
            if not isinstance(getattr(self, key), bool):
                raise _refuse(key, getattr(self, key), "must be true or false")

    def _check_ranges(self) -> None:
        for key in ("n_explore", "budget", "n_extra"):
            if getattr(self, key) < 1:
                raise _refuse(key, getattr(self, key), "must be >= 1")
        if self.n_explore > self.budget:
            raise _refuse("n_explore", self.n_explore, f"must not exceed algorithm.aero.budget={self.budget}")
        for key in ("min_incorrect_kept", "degenerate_keep", "seed"):
            if getattr(self, key) < 0:
                raise _refuse(key, getattr(self, key), "must be >= 0")
        for key in ("rescue_threshold", "low_success_threshold", "posterior_decay"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise _refuse(key, getattr(self, key), "must lie in [0, 1]")
        if self.rescue_threshold >= self.low_success_threshold:
            raise _refuse(
                "rescue_threshold",
                self.rescue_threshold,
                f"must be below algorithm.aero.low_success_threshold={self.low_success_threshold}",
            )
        for key in ("reject_ratio", "prior_alpha", "prior_beta", "epsilon"):
            if getattr(self, key) <= 0.0:
                raise _refuse(key, getattr(self, key), "must be > 0")
        for kind in GROUP_KINDS:  # allowed values are the rules registered at validation time
            key, registered = f"{kind}_curation", list(curation_rule_names(kind))
            if getattr(self, key) not in registered:
                raise _refuse(key, getattr(self, key), f"must be a registered {kind} rule, one of {registered}")
        for key, allowed in (
            ("rollout", ROLLOUT_MODES),
            ("advantage", ADVANTAGE_MODES),
            ("posterior_scope", POSTERIOR_SCOPES),
            ("advantage_stats", ADVANTAGE_STATS),
            ("update_sizing", UPDATE_SIZINGS),
        ):
            if getattr(self, key) not in allowed:
                raise _refuse(key, getattr(self, key), f"must be one of {list(allowed)}")
        if not 0.0 < self.degenerate_loss_share <= 1.0:
            raise _refuse("degenerate_loss_share", self.degenerate_loss_share, "must lie in (0, 1] (1 = no cap)")
        if not self.success_key:
            raise _refuse("success_key", self.success_key, "must be a non-empty string")
        if self.guided_exploration and self.rollout != "adaptive":
            raise _refuse("guided_exploration", True, "needs algorithm.aero.rollout=adaptive (it sizes first rounds)")
        upper = self.n_explore if self.guided_exploration else math.inf  # only read when guidance is on
        if not 1 <= self.n_explore_known_solved <= upper:
            raise _refuse(
                "n_explore_known_solved",
                self.n_explore_known_solved,
                f"must be >= 1 and, with guided_exploration, <= algorithm.aero.n_explore={self.n_explore}",
            )
        for key in ("known_solved_mean", "known_failing_mean"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise _refuse(key, getattr(self, key), "must lie in (0, 1)")
        if self.known_failing_mean >= self.known_solved_mean:
            raise _refuse(
                "known_failing_mean",
                self.known_failing_mean,
                f"must be below algorithm.aero.known_solved_mean={self.known_solved_mean}",
            )
        if self.guidance_min_evidence < 0.0:
            raise _refuse("guidance_min_evidence", self.guidance_min_evidence, "must be >= 0")
        if self.rescue_race and self.rollout != "adaptive":
            raise _refuse("rescue_race", True, "needs algorithm.aero.rollout=adaptive (it is a rescue round)")
        if self.rescue_race and self.rescue_threshold != 0.0:
            raise _refuse(
                "rescue_race",
                True,
                f"needs algorithm.aero.rescue_threshold=0 (a race ends at a success), not {self.rescue_threshold}",
            )


@dataclasses.dataclass(frozen=True)
class Arm:
    """Which halves of AERO a run uses, decided once from the config (DESIGN.md §2.11).

    ``adv_estimator=aero`` takes both halves from ``algorithm.aero.rollout`` / ``algorithm.aero.advantage`` (both
    AERO's by default); any other estimator (the GRPO baseline) is fixed rollouts with verl's own estimator.

    Attributes:
        adaptive_rollout: explore -> rescue rounds per prompt and curation of the trained rows.
        posterior_advantage: AERO's estimator (posterior advantage for degenerate groups); else verl's ``grpo``.
    """

    adaptive_rollout: bool
    posterior_advantage: bool

    @classmethod
    def of(cls, adv_estimator: str, aero: AeroConfig) -> Arm:
        if adv_estimator != "aero":
            return cls(adaptive_rollout=False, posterior_advantage=False)
        return cls(adaptive_rollout=aero.rollout == "adaptive", posterior_advantage=aero.advantage == "posterior")

    @classmethod
    def from_algorithm(cls, algorithm: Any) -> Arm:
        """The arm of verl's ``algorithm`` config block (DictConfig or mapping); validates ``algorithm.aero``."""
        return cls.of(algorithm.get("adv_estimator"), AeroConfig.from_mapping(algorithm.get("aero")))

    @property
    def name(self) -> str:
        """``aero``, ``grpo``, or the mixed arm's two halves, e.g. ``adaptive_rollout+grpo_advantage``."""
        if self.adaptive_rollout == self.posterior_advantage:
            return "aero" if self.adaptive_rollout else "grpo"
        rollout = "adaptive" if self.adaptive_rollout else "fixed"
        return f"{rollout}_rollout+{'posterior' if self.posterior_advantage else 'grpo'}_advantage"

    def metrics(self) -> dict[str, float]:
        """Logged every step, so that runs of the four arms can be told apart from their metrics alone."""
        return {
            "aero/arm/adaptive_rollout": float(self.adaptive_rollout),
            "aero/arm/posterior_advantage": float(self.posterior_advantage),
        }


@dataclasses.dataclass(frozen=True)
class AeroTrainerConfig(_FromMapping):
    """Validated settings of the AERO trainer, under ``trainer.v1.aero`` (the block verl looks up by trainer_mode).

    Attributes:
        poll_interval_s: Replay-buffer poll interval in seconds for training batches (verl's built-in sampler
            polls every 2 s, a floor on every step); validation batches are polled no faster than verl's 2 s.
        group_log_path: Optional JSONL file that gets one line per prompt group per step (counts, stratum,
            which sessions succeeded and which were kept); None writes nothing.
        reward_timeout_s: Deadline in seconds of each reward call the agent loop awaits (verl awaits a custom
            reward without one, so a reward that hangs would block the step for ever); a call that misses it
            fails its rollout, and so its prompt (DESIGN.md §2.10).
        max_failed_steps: Consecutive training steps that failures (failed prompts, NaN/inf scores, not degenerate
            groups) may leave with nothing to train before the run stops with an error naming the cause; a step in
            which every prompt failed stops it at once.
    """

    PREFIX = TRAINER_CONFIG_PREFIX

    poll_interval_s: float = 0.05
    group_log_path: str | None = None
    reward_timeout_s: float = 300.0
    max_failed_steps: int = 3

    def __post_init__(self) -> None:
        value = self.max_failed_steps
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise _refuse("max_failed_steps", value, "must be an integer >= 1", self.PREFIX)
        for key in ("poll_interval_s", "reward_timeout_s"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
                raise _refuse(key, value, "must be a finite number > 0", self.PREFIX)
            object.__setattr__(self, key, float(value))
        if self.group_log_path is not None and (not isinstance(self.group_log_path, str) or not self.group_log_path):
            raise _refuse("group_log_path", self.group_log_path, "must be null or a non-empty path", self.PREFIX)
