"""AeroConfig: spec defaults, mapping/DictConfig input, and refusal of every invalid value by key name."""

import dataclasses

import pytest
from omegaconf import OmegaConf

from recipe.aero.core.config import AeroConfig, AeroConfigError, AeroTrainerConfig, Arm

SPEC_DEFAULTS = {
    # The two halves of AERO (DESIGN.md §2.11): both AERO's by default.
    "rollout": "adaptive",
    "advantage": "posterior",
    "n_explore": 4,
    "budget": 8,
    "n_extra": 2,
    "rescue_threshold": 0.0,
    "low_success_threshold": 0.5,
    "reject_ratio": 1.0,
    "min_incorrect_kept": 1,
    "low_success_curation": "rejection",
    "high_success_curation": "none",
    "degenerate_curation": "subsample",
    "prior_alpha": 1.0,
    "prior_beta": 1.0,
    "posterior_decay": 0.5,
    "posterior_scope": "degenerate",
    "degenerate_keep": 4,
    "advantage_stats": "kept",
    "success_key": "acc",
    "success_threshold": 0.0,
    "seed": 0,
    "epsilon": 1e-6,
    # Posterior-guided exploration (DESIGN.md §2.1, our variant): off by default.
    "guided_exploration": False,
    "n_explore_known_solved": 2,
    "known_solved_mean": 0.75,
    "known_failing_mean": 0.2,
    "guidance_min_evidence": 2.0,
    # Rescue race with aborted siblings (DESIGN.md §2.3, our variant): off by default.
    "rescue_race": False,
    # How the update is sized (DESIGN.md §2.8, open in the paper) and the degenerate groups' loss cap (§2.6, ours).
    "update_sizing": "samples",
    "degenerate_loss_share": 1.0,
}


def test_defaults_are_the_spec_table():
    assert dataclasses.asdict(AeroConfig()) == SPEC_DEFAULTS


def test_from_mapping_accepts_none_dict_and_dictconfig():
    assert AeroConfig.from_mapping(None) == AeroConfig()
    overrides = {"n_explore": 2, "budget": 16, "high_success_curation": "mirror", "reject_ratio": 2}
    from_dict = AeroConfig.from_mapping(overrides)
    from_dictconfig = AeroConfig.from_mapping(OmegaConf.create(overrides))
    assert from_dict == from_dictconfig
    assert (from_dict.n_explore, from_dict.budget, from_dict.high_success_curation) == (2, 16, "mirror")
    assert isinstance(from_dict.reject_ratio, float) and from_dict.reject_ratio == 2.0


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AeroConfig().budget = 3


INVALID = [
    ({"n_explore": 9}, "n_explore"),  # more than budget 8
    ({"n_explore": 0}, "n_explore"),
    ({"n_extra": 0}, "n_extra"),
    ({"budget": 0, "n_explore": 0}, "n_explore"),
    ({"budget": 0}, "budget"),
    ({"reject_ratio": 0.0}, "reject_ratio"),
    ({"reject_ratio": -1.0}, "reject_ratio"),
    ({"min_incorrect_kept": -1}, "min_incorrect_kept"),
    ({"degenerate_keep": -1}, "degenerate_keep"),
    ({"rescue_threshold": -0.1}, "rescue_threshold"),
    ({"low_success_threshold": 1.5}, "low_success_threshold"),
    ({"low_success_threshold": -0.5}, "low_success_threshold"),
    ({"rescue_threshold": 0.5}, "rescue_threshold"),  # equal to low_success_threshold
    ({"rescue_threshold": 0.6, "low_success_threshold": 0.4}, "rescue_threshold"),
    ({"posterior_decay": 1.01}, "posterior_decay"),
    ({"posterior_decay": -0.1}, "posterior_decay"),
    ({"prior_alpha": 0.0}, "prior_alpha"),
    ({"prior_beta": -2.0}, "prior_beta"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"high_success_curation": "drop"}, "high_success_curation"),
    ({"low_success_curation": "mirror"}, "low_success_curation"),  # registered for another kind only
    ({"degenerate_curation": "drop"}, "degenerate_curation"),
    ({"posterior_scope": "mixed"}, "posterior_scope"),
    ({"advantage_stats": "all"}, "advantage_stats"),
    ({"n_explore": "4"}, "n_explore"),
    ({"budget": 8.0}, "budget"),
    ({"seed": True}, "seed"),
    ({"seed": -1}, "seed"),
    ({"reject_ratio": "1.0"}, "reject_ratio"),
    ({"prior_alpha": float("nan")}, "prior_alpha"),
    ({"success_threshold": float("inf")}, "success_threshold"),
    ({"success_key": 3}, "success_key"),
    ({"success_key": ""}, "success_key"),
    ({"high_success_curation": None}, "high_success_curation"),
    ({"n_exploer": 4}, "n_exploer"),  # unknown key (typo)
    ({"guided_exploration": "yes"}, "guided_exploration"),
    ({"n_explore_known_solved": 0}, "n_explore_known_solved"),
    ({"n_explore_known_solved": 5, "guided_exploration": True}, "n_explore_known_solved"),  # > n_explore 4
    ({"known_solved_mean": 1.0}, "known_solved_mean"),
    ({"known_failing_mean": 0.8}, "known_failing_mean"),  # not below known_solved_mean
    ({"guidance_min_evidence": -1.0}, "guidance_min_evidence"),
    ({"rollout": "adaptve"}, "rollout"),
    ({"advantage": "gae"}, "advantage"),
    ({"rollout": None}, "rollout"),
    ({"guided_exploration": True, "rollout": "fixed"}, "guided_exploration"),  # sizes adaptive first rounds only
    ({"rescue_race": 1}, "rescue_race"),
    ({"rescue_race": True, "rollout": "fixed"}, "rescue_race"),  # a rescue round: adaptive rollouts only
    ({"rescue_race": True, "rescue_threshold": 0.25}, "rescue_race"),  # the race ends at the first success
    ({"update_sizing": "tokens"}, "update_sizing"),
    ({"update_sizing": None}, "update_sizing"),
    ({"degenerate_loss_share": 0.0}, "degenerate_loss_share"),  # would silence degenerate groups: use keep=0
    ({"degenerate_loss_share": 1.5}, "degenerate_loss_share"),
    ({"degenerate_loss_share": "half"}, "degenerate_loss_share"),
]


@pytest.mark.parametrize(("overrides", "key"), INVALID, ids=[f"{k}={v}" for v, k in INVALID])
@pytest.mark.parametrize("container", ["dict", "dictconfig"])
def test_invalid_value_is_refused_naming_the_key(overrides, key, container):
    mapping = overrides if container == "dict" else OmegaConf.create(overrides)
    with pytest.raises(AeroConfigError) as error:
        AeroConfig.from_mapping(mapping)
    message = str(error.value)
    assert f"algorithm.aero.{key}=" in message
    assert repr(overrides[key]) in message


def test_non_mapping_is_refused():
    with pytest.raises(AeroConfigError, match="algorithm.aero must be a mapping"):
        AeroConfig.from_mapping([("n_explore", 4)])


@pytest.mark.parametrize(
    ("estimator", "halves", "adaptive", "posterior", "name"),
    [
        ("aero", {}, True, True, "aero"),
        ("aero", {"rollout": "fixed"}, False, True, "fixed_rollout+posterior_advantage"),
        ("aero", {"advantage": "grpo"}, True, False, "adaptive_rollout+grpo_advantage"),
        ("aero", {"rollout": "fixed", "advantage": "grpo"}, False, False, "grpo"),
        ("grpo", {}, False, False, "grpo"),  # the baseline: the halves are not read
    ],
)
def test_arm_is_decided_by_the_estimator_and_the_two_halves(estimator, halves, adaptive, posterior, name):
    arm = Arm.from_algorithm(OmegaConf.create({"adv_estimator": estimator, "aero": halves}))
    assert (arm.adaptive_rollout, arm.posterior_advantage, arm.name) == (adaptive, posterior, name)
    assert arm.metrics() == {
        "aero/arm/adaptive_rollout": float(adaptive),
        "aero/arm/posterior_advantage": float(posterior),
    }


def test_arm_validates_the_aero_block():
    with pytest.raises(AeroConfigError, match="algorithm.aero.rollout"):
        Arm.from_algorithm(OmegaConf.create({"adv_estimator": "aero", "aero": {"rollout": "rescue"}}))


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "300"])
def test_reward_timeout_must_be_a_finite_positive_number(value):
    with pytest.raises(AeroConfigError, match=r"^trainer\.v1\.aero\.reward_timeout_s="):
        AeroTrainerConfig.from_mapping({"reward_timeout_s": value})


def test_reward_timeout_is_read_as_seconds():
    value = AeroTrainerConfig.from_mapping(OmegaConf.create({"reward_timeout_s": 30})).reward_timeout_s
    assert value == 30.0 and type(value) is float
