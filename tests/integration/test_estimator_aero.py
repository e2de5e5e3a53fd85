"""``adv_estimator=aero`` through verl's own ``ray_trainer.compute_advantage`` on real DataProtos:
equal to verl's ``grpo`` on mixed groups (ragged, with padding rows), posterior advantages on degenerate
groups (spec 2.6 worked examples), trainer kwargs, and properties over random layouts."""

import math
import uuid

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo.ray_trainer import compute_advantage

import recipe.aero.register  # noqa: F401  (registers "aero" even when plugins are disabled)
from recipe.aero.core.config import AeroConfigError
from recipe.aero.estimator import compute_aero_advantage

RESPONSE_LENGTH = 12


def _make_batch(group_scores, num_pad=0, seed=0):
    """A DataProto as verl's trainer has it at the advantage step: outcome score on the last response token,
    random response lengths, uid per prompt (rows shuffled), optional V1 padding rows (shared pad uid)."""
    rng = np.random.default_rng(seed)
    scores = [s for group in group_scores for s in group]
    uids = [f"uid-{g}-{uuid.UUID(int=g).hex}" for g, group in enumerate(group_scores) for _ in group]
    lengths = list(rng.integers(1, RESPONSE_LENGTH + 1, len(scores)))
    scores += [0.0] * num_pad
    uids += [f"pad{uuid.UUID(int=10**6).hex}"] * num_pad
    lengths += [0] * num_pad
    order = rng.permutation(len(scores))
    mask = torch.zeros(len(scores), RESPONSE_LENGTH, dtype=torch.float32)
    rewards = torch.zeros(len(scores), RESPONSE_LENGTH, dtype=torch.float32)
    for row, source in enumerate(order):
        mask[row, : lengths[source]] = 1.0
        rewards[row, max(lengths[source] - 1, 0)] = scores[source] if lengths[source] else 0.0
    data = DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": mask},
        non_tensors={"uid": np.array([uids[i] for i in order], dtype=object)},
    )
    return data


def _advantages(data, estimator, aero=None):
    config = OmegaConf.create({"adv_estimator": estimator, "aero": aero or {}})
    copy = DataProto.from_dict(
        tensors={k: v.clone() for k, v in data.batch.items()}, non_tensors=dict(data.non_tensor_batch)
    )
    out = compute_advantage(copy, adv_estimator=estimator, config=config)
    return out.batch["advantages"], out.batch["returns"]


MIXED_RAGGED = [[1, 0, 0, 0], [1, 1, 0], [0, 1, 1, 1, 1, 1, 0, 0], [1, 0], [0, 0, 0, 1, 0, 0]]
SHAPED_MIXED = [[1.0, -1.0, -1.0, 0.5], [0.25, -0.5, 2.0], [-1.0, 0.1]]


@pytest.mark.parametrize("groups", [MIXED_RAGGED, SHAPED_MIXED], ids=["binary", "shaped"])
@pytest.mark.parametrize("num_pad", [0, 5])
def test_mixed_groups_equal_verl_grpo(groups, num_pad):
    data = _make_batch(groups, num_pad=num_pad)
    aero_adv, aero_ret = _advantages(data, "aero")
    grpo_adv, _ = _advantages(data, "grpo")
    torch.testing.assert_close(aero_adv, grpo_adv, atol=1e-6, rtol=0)
    torch.testing.assert_close(aero_ret, aero_adv)
    assert aero_adv.abs().sum() > 0


def test_padding_rows_get_zero_and_do_not_change_real_rows():
    with_pad = _make_batch(MIXED_RAGGED, num_pad=7)
    advantages, _ = _advantages(with_pad, "aero")
    is_pad = np.char.startswith(with_pad.non_tensor_batch["uid"].astype(str), "pad")
    assert (advantages[torch.as_tensor(is_pad)] == 0).all()
    without_pad = _make_batch(MIXED_RAGGED, num_pad=0)
    real, _ = _advantages(without_pad, "aero")
    # Same per-rollout advantages (compare sorted sums per row, rows were shuffled differently).
    assert sorted(advantages[torch.as_tensor(~is_pad)].sum(-1).tolist()) == pytest.approx(
        sorted(real.sum(-1).tolist()), abs=1e-6
    )


def _row_values(data, advantages):
    """Per-row advantage (constant over response tokens) with each row's uid and score."""
    mask = data.batch["response_mask"].bool()
    values = [advantages[i][mask[i]] for i in range(len(mask))]
    assert all(torch.allclose(v, v[0]) for v in values if len(v))
    return data.non_tensor_batch["uid"], data.batch["token_level_rewards"].sum(-1), [v[0].item() for v in values]


def test_degenerate_groups_get_the_spec_worked_examples():
    data = _make_batch([[1] * 8, [0] * 16, [1, 0]])
    advantages, _ = _advantages(data, "aero", {"posterior_decay": 0.0})
    uids, scores, values = _row_values(data, advantages)
    by_group = {}
    for uid, value in zip(uids, values, strict=True):
        by_group.setdefault(uid.split("-")[1], set()).add(round(value, 6))
    p_fail = 1 / 18
    assert by_group["0"] == {round(0.1 / (math.sqrt(0.09) + 1e-6), 6)}  # p = 0.9, A = +0.33
    assert by_group["1"] == {round(-p_fail / (math.sqrt(p_fail * (1 - p_fail)) + 1e-6), 6)}  # A = -0.24
    assert round(min(by_group["0"]), 2) == 0.33 and round(min(by_group["1"]), 2) == -0.24
    grpo, _ = _advantages(data, "grpo")
    assert (grpo[torch.as_tensor([u.startswith("uid-0") for u in uids])] == 0).all()  # GRPO wastes them


def test_trainer_kwargs_override_success_posterior_and_degeneracy():
    data = _make_batch([[1, 1], [1, 0]], seed=3)
    rewards, mask, uids = data.batch["token_level_rewards"], data.batch["response_mask"], data.non_tensor_batch["uid"]
    in_first = np.array([u.startswith("uid-0") for u in uids])
    config = OmegaConf.create({"aero": {}})
    # Persistent-store p for the degenerate group replaces this step's counts.
    adv, _ = compute_aero_advantage(rewards, mask, uids, config, posterior_mean=np.where(in_first, 0.5, 0.2))
    first_rows = torch.as_tensor(in_first)
    assert torch.allclose(adv[first_rows].sum(-1) / mask[first_rows].sum(-1), torch.tensor(0.5 / (0.5 + 1e-6)))
    # The first group was curated from 8 generated rollouts with 3 correct: it is mixed -> GRPO (zero here).
    adv, _ = compute_aero_advantage(
        rewards,
        mask,
        uids,
        config,
        generated_counts=np.where(in_first, 8, 2),
        generated_correct=np.where(in_first, 3, 1),
    )
    assert (adv[first_rows] == 0).all()
    with pytest.raises(ValueError, match="advantage_stats=generated"):
        compute_aero_advantage(
            rewards,
            mask,
            uids,
            OmegaConf.create({"aero": {"advantage_stats": "generated"}}),
            generated_counts=np.where(in_first, 8, 2),
            generated_correct=np.where(in_first, 3, 1),
        )
    with pytest.raises(ValueError, match="constant within each uid"):
        compute_aero_advantage(rewards, mask, uids, config, posterior_mean=np.linspace(0.1, 0.9, len(uids)))
    # Explicit success (the reward's acc) wins over the score threshold.
    adv, _ = compute_aero_advantage(rewards, mask, uids, config, success=np.zeros(len(uids), bool))
    assert (adv[mask.bool()] < 0).all()


def test_bad_config_and_missing_uid_are_clear_errors():
    data = _make_batch([[1, 0]])
    with pytest.raises(AeroConfigError, match="algorithm.aero.n_extra=0"):
        _advantages(data, "aero", {"n_extra": 0})
    with pytest.raises(ValueError, match="needs index"):
        compute_aero_advantage(data.batch["token_level_rewards"], data.batch["response_mask"], None, None)


@st.composite
def layouts(draw):
    groups = draw(
        st.lists(st.lists(st.sampled_from([-1.0, 0.0, 0.3, 1.0]), min_size=1, max_size=9), min_size=1, max_size=8)
    )
    return groups, draw(st.integers(0, 4)), draw(st.integers(0, 1000))


@settings(max_examples=50, deadline=None)
@given(layouts(), st.sampled_from(["degenerate", "all"]))
def test_random_layouts_are_finite_zero_off_mask_and_grpo_on_mixed(layout, scope):
    groups, num_pad, seed = layout
    data = _make_batch(groups, num_pad=num_pad, seed=seed)
    advantages, _ = _advantages(data, "aero", {"posterior_scope": scope})
    mask = data.batch["response_mask"]
    assert torch.isfinite(advantages).all()
    assert (advantages[mask == 0] == 0).all()
    if scope == "degenerate":
        grpo, _ = _advantages(data, "grpo")
        uids = data.non_tensor_batch["uid"]
        mixed_uids = {f"uid-{g}" for g, group in enumerate(groups) if 0 < sum(s > 0 for s in group) < len(group)}
        mixed_rows = torch.as_tensor([u.rsplit("-", 1)[0] in mixed_uids for u in uids])
        torch.testing.assert_close(advantages[mixed_rows], grpo[mixed_rows], atol=1e-6, rtol=0)


def test_batch_of_only_padding_rows_gets_zero_advantages():
    data = _make_batch([], num_pad=4)
    advantages, _ = _advantages(data, "aero")
    assert advantages.shape == (4, RESPONSE_LENGTH) and (advantages == 0).all()
    with pytest.raises(ValueError, match="kwarg 'posterior_mean' has shape"):
        compute_aero_advantage(
            data.batch["token_level_rewards"],
            data.batch["response_mask"],
            data.non_tensor_batch["uid"],
            None,
            posterior_mean=np.ones(3),
        )
