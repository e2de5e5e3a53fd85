"""The trainer's group context reaches the ``aero`` estimator through verl's own compute_advantage call."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo.ray_trainer import compute_advantage

from recipe.aero import group_context
from recipe.aero.core.config import AeroConfig
from recipe.aero.core.posterior import posterior_advantage


def _data(scores, uids, length=3):
    rewards = torch.zeros(len(scores), length)
    rewards[:, -1] = torch.tensor(scores, dtype=torch.float32)
    batch = {"token_level_rewards": rewards, "response_mask": torch.ones(len(scores), length)}
    return DataProto.from_dict(tensors=batch, non_tensors={"uid": np.array(uids, dtype=object)})


def _context(p, n, c, mean, std):
    return group_context.GroupContext(p=p, n_generated=n, n_correct=c, generated_mean=mean, generated_std=std)


def _run(data, **aero):
    config = OmegaConf.create({"adv_estimator": "aero", "aero": aero})
    return compute_advantage(data, adv_estimator="aero", config=config).batch["advantages"][:, -1].numpy()


def test_degenerate_group_uses_the_attached_persistent_posterior():
    # Two kept rollouts of an all-wrong group that generated 8; the store says p = 0.2 (not this step's 1/10).
    data = _data([0.0, 0.0], ["u", "u"])
    context = _context({"u": 0.2}, {"u": 8}, {"u": 0}, {"u": 0.0}, {"u": 0.0})
    with group_context.attached(context):
        advantages = _run(data)
    expected = posterior_advantage(np.zeros(2), 0.2, AeroConfig().epsilon)
    np.testing.assert_allclose(advantages, expected, rtol=1e-6)
    assert group_context.current() is None
    np.testing.assert_allclose(_run(data), posterior_advantage(np.zeros(2), 1 / 4, 1e-6), rtol=1e-6)


def test_kept_rows_of_a_mixed_group_decide_nothing_about_degeneracy():
    # Curation kept 2 wrong rollouts of a group with 1 correct of 6 generated: still mixed, not degenerate.
    data = _data([0.0, 0.0, 1.0], ["u", "u", "v"])
    context = _context(
        {"u": 0.3, "v": 0.5}, {"u": 6, "v": 1}, {"u": 1, "v": 1}, {"u": 1 / 6, "v": 1.0}, {"u": 0.4, "v": 1.0}
    )
    with group_context.attached(context):
        advantages = _run(data)
    assert advantages[0] == pytest.approx(0.0, abs=1e-6)  # GRPO over the two identical kept scores
    assert advantages[2] != 0.0  # singleton all-correct group: posterior advantage


def test_generated_statistics_for_mixed_groups():
    data = _data([1.0, 0.0], ["u", "u"])
    context = _context({"u": 0.3}, {"u": 6}, {"u": 1}, {"u": 1 / 6}, {"u": 0.4})
    with group_context.attached(context):
        advantages = _run(data, advantage_stats="generated")
    np.testing.assert_allclose(advantages, [(1 - 1 / 6) / (0.4 + 1e-6), (0 - 1 / 6) / (0.4 + 1e-6)], rtol=1e-5)
    with pytest.raises(ValueError, match="advantage_stats=generated"):
        _run_without_stats(data)


def _run_without_stats(data):
    config = OmegaConf.create({"adv_estimator": "aero", "aero": {"advantage_stats": "generated"}})
    from recipe.aero.estimator import compute_aero_advantage

    return compute_aero_advantage(
        data.batch["token_level_rewards"],
        data.batch["response_mask"],
        np.array(["u", "u"]),
        config,
        generated_counts=np.array([6, 6]),
        generated_correct=np.array([1, 1]),
    )


def test_unknown_uid_is_refused():
    data = _data([1.0, 0.0], ["u", "w"])
    context = _context({"u": 0.3}, {"u": 6}, {"u": 1}, {"u": 1 / 6}, {"u": 0.4})
    with group_context.attached(context), pytest.raises(KeyError, match="w"):
        _run(data)
