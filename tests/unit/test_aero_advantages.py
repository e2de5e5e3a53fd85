"""Core advantages: GRPO statistics (checked against a straightforward per-group torch reference written from
verl's definition), posterior advantages on degenerate groups, scope/stats switches, zero for dropped rows."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.aero.core.advantages import aero_advantages, degenerate_loss_weight, group_mean_std, grpo_advantages
from recipe.aero.core.config import AeroConfig

FAST = settings(max_examples=80, deadline=None)


def _reference_grpo(scores, group_index, epsilon, rows=None):
    """One group at a time with torch.mean/torch.std (unbiased), singletons mean 0 std 1, as verl does."""
    scores = torch.as_tensor(scores, dtype=torch.float64)
    rows = np.ones(len(scores), bool) if rows is None else rows
    out = torch.empty_like(scores)
    for group in np.unique(group_index):
        members = torch.as_tensor((group_index == group) & rows)
        if members.sum() > 1:
            mean, std = scores[members].mean(), scores[members].std()
        else:
            mean, std = torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
        in_group = torch.as_tensor(group_index == group)
        out[in_group] = (scores[in_group] - mean) / (std + epsilon)
    return out.numpy()


@st.composite
def ragged(draw):
    sizes = draw(st.lists(st.integers(1, 10), min_size=1, max_size=10))
    group_index = np.repeat(np.arange(len(sizes)), sizes)
    order = np.array(draw(st.permutations(range(len(group_index)))), dtype=np.int64)
    scores = np.array(
        draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0]), min_size=len(order), max_size=len(order)))
    )
    keep = np.array(draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order))))
    return scores, group_index[order], keep


@FAST
@given(ragged())
def test_grpo_matches_reference(case):
    scores, group_index, keep = case
    num_groups = int(group_index.max()) + 1
    assert np.allclose(
        grpo_advantages(scores, group_index, num_groups, 1e-6), _reference_grpo(scores, group_index, 1e-6), atol=1e-9
    )
    assert np.allclose(
        grpo_advantages(scores, group_index, num_groups, 1e-6, rows=keep),
        _reference_grpo(scores, group_index, 1e-6, rows=keep),
        atol=1e-9,
    )


@FAST
@given(ragged(), st.sampled_from(["kept", "generated"]), st.sampled_from(["degenerate", "all"]))
def test_aero_advantages_are_finite_and_zero_on_dropped_rows(case, stats, scope):
    scores, group_index, keep = case
    success = scores > 0
    num_groups = int(group_index.max()) + 1
    group_p = np.random.default_rng(0).uniform(0.01, 0.99, num_groups)
    cfg = AeroConfig(advantage_stats=stats, posterior_scope=scope)
    advantages = aero_advantages(scores, success, group_index, group_p, cfg, keep=keep)
    assert np.isfinite(advantages).all()
    assert (advantages[~keep] == 0).all()


def test_mixed_groups_are_grpo_and_degenerate_groups_use_the_posterior():
    scores = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    group_index = np.array([0, 0, 0, 1, 1, 1])
    group_p = np.array([0.5, 0.8])
    advantages = aero_advantages(scores, scores > 0, group_index, group_p, AeroConfig())
    assert advantages[:3] == pytest.approx(_reference_grpo(scores[:3], group_index[:3], 1e-6))
    assert advantages[3:] == pytest.approx([0.2 / (np.sqrt(0.16) + 1e-6)] * 3)


def test_advantage_stats_kept_versus_generated():
    scores = np.array([1.0, 0.0, 0.0, 0.0])
    keep = np.array([True, True, False, False])
    kept = aero_advantages(scores, scores > 0, np.zeros(4, int), np.array([0.3]), AeroConfig(), keep=keep)
    generated = aero_advantages(
        scores, scores > 0, np.zeros(4, int), np.array([0.3]), AeroConfig(advantage_stats="generated"), keep=keep
    )
    std_kept = np.std([1.0, 0.0], ddof=1)
    assert kept[:2] == pytest.approx([0.5 / (std_kept + 1e-6), -0.5 / (std_kept + 1e-6)])
    std_all = np.std(scores, ddof=1)
    assert generated[:2] == pytest.approx([0.75 / (std_all + 1e-6), -0.25 / (std_all + 1e-6)])
    assert (kept[2:] == 0).all() and (generated[2:] == 0).all()


def test_posterior_scope_all_replaces_the_mean_by_p():
    success = np.array([True, False, False])
    advantages = aero_advantages(
        success.astype(float), success, np.zeros(3, int), np.array([0.2]), AeroConfig(posterior_scope="all")
    )
    std = np.std([1.0, 0.0, 0.0], ddof=1)
    assert advantages == pytest.approx([0.8 / (std + 1e-6), -0.2 / (std + 1e-6), -0.2 / (std + 1e-6)])


def test_singleton_group_uses_mean_zero_std_one():
    mean, std = group_mean_std(np.array([3.0, 1.0, 2.0]), np.array([0, 1, 1]), 2)
    assert mean.tolist() == [0.0, 1.5] and std[0] == 1.0


@pytest.mark.parametrize(
    ("degenerate_rows", "mixed_rows", "max_share", "weight"),
    [
        (40, 20, 1.0, 1.0),  # no cap (the default)
        (40, 20, 0.5, 0.5),  # 40 degenerate rows then weigh as much as the 20 mixed ones
        (10, 20, 0.5, 1.0),  # already below the cap: untouched
        (30, 10, 0.25, 1 / 9),  # (1/3) * 10 / 30
        (12, 0, 0.5, 0.0),  # nothing mixed: nothing the degenerate groups may outweigh
        (0, 0, 0.5, 1.0),
    ],
)
def test_degenerate_loss_weight_caps_their_share(degenerate_rows, mixed_rows, max_share, weight):
    w = degenerate_loss_weight(degenerate_rows, mixed_rows, max_share)
    assert w == pytest.approx(weight)
    if degenerate_rows and mixed_rows:
        assert w * degenerate_rows / (w * degenerate_rows + mixed_rows) <= max_share + 1e-12


@pytest.mark.parametrize("max_share", [0.0, -0.1, 1.2])
def test_degenerate_loss_weight_refuses_a_share_outside_0_1(max_share):
    with pytest.raises(ValueError, match="degenerate_loss_share"):
        degenerate_loss_weight(4, 4, max_share)


def test_degenerate_weight_scales_only_the_posterior_advantages():
    """Group 0 mixed (GRPO), group 1 all correct (posterior): only group 1's advantages change, by the factor."""
    scores = np.array([1.0, 0.0, 1.0, 1.0])
    success = scores > 0
    group_index = np.array([0, 0, 1, 1])
    group_p = np.array([0.5, 0.8])
    cfg = AeroConfig()
    full = aero_advantages(scores, success, group_index, group_p, cfg)
    scaled = aero_advantages(scores, success, group_index, group_p, cfg, degenerate_weight=0.25)
    np.testing.assert_allclose(scaled[:2], full[:2])
    np.testing.assert_allclose(scaled[2:], 0.25 * full[2:])
    assert (full[2:] > 0).all()
