"""The trainer's group context reaches the ``aero`` estimator through verl's own compute_advantage call."""

import dataclasses

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


def _context(p, n, c, mean, std, rows):
    """``rows``: (uid, success) of each batch row, in order, as the trainer recorded them when they were scored."""
    keys = [f"{uid}_{session}_0" for session, (uid, _) in enumerate(rows)]
    return group_context.GroupContext(
        p=p,
        n_generated=n,
        n_correct=c,
        generated_mean=mean,
        generated_std=std,
        success_by_key={key: ok for key, (_, ok) in zip(keys, rows, strict=True)},
        row_keys=keys,
    )


def _run(data, **aero):
    config = OmegaConf.create({"adv_estimator": "aero", "aero": aero})
    return compute_advantage(data, adv_estimator="aero", config=config).batch["advantages"][:, -1].numpy()


def test_degenerate_group_uses_the_attached_persistent_posterior():
    # Two kept rollouts of an all-wrong group that generated 8; the store says p = 0.2 (not this step's 1/10).
    data = _data([0.0, 0.0], ["u", "u"])
    context = _context({"u": 0.2}, {"u": 8}, {"u": 0}, {"u": 0.0}, {"u": 0.0}, [("u", False)] * 2)
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
        {"u": 0.3, "v": 0.5},
        {"u": 6, "v": 1},
        {"u": 1, "v": 1},
        {"u": 1 / 6, "v": 1.0},
        {"u": 0.4, "v": 1.0},
        [("u", False), ("u", False), ("v", True)],
    )
    with group_context.attached(context):
        advantages = _run(data)
    assert advantages[0] == pytest.approx(0.0, abs=1e-6)  # GRPO over the two identical kept scores
    assert advantages[2] != 0.0  # singleton all-correct group: posterior advantage


def test_generated_statistics_for_mixed_groups():
    data = _data([1.0, 0.0], ["u", "u"])
    context = _context({"u": 0.3}, {"u": 6}, {"u": 1}, {"u": 1 / 6}, {"u": 0.4}, [("u", True), ("u", False)])
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
    context = _context({"u": 0.3}, {"u": 6}, {"u": 1}, {"u": 1 / 6}, {"u": 0.4}, [("u", True), ("w", False)])
    with group_context.attached(context), pytest.raises(KeyError, match="w"):
        _run(data)


def test_shaped_score_never_flips_the_sign_of_a_degenerate_group():
    # score = acc + 0.1 (a format bonus): 4 kept rows of a failed-rescue group (0 of 8 correct by acc) and 2 of an
    # all-correct group. By score > success_threshold (0.0) every row would look correct.
    data = _data([0.1] * 4 + [1.1] * 2, ["f"] * 4 + ["s"] * 2)
    context = _context(
        {"f": 0.1, "s": 0.9},
        {"f": 8, "s": 4},
        {"f": 0, "s": 4},
        {"f": 0.1, "s": 1.1},
        {"f": 0.0, "s": 0.0},
        [("f", False)] * 4 + [("s", True)] * 2,
    )
    with group_context.attached(context):
        advantages = _run(data)
    assert (advantages[:4] < 0).all(), advantages
    assert (advantages[4:] > 0).all(), advantages


def test_context_rows_must_match_the_batch():
    data = _data([1.0, 0.0], ["u", "u"])
    context = _context({"u": 0.3}, {"u": 2}, {"u": 1}, {"u": 0.5}, {"u": 0.7}, [("u", True)])
    with group_context.attached(context), pytest.raises(ValueError, match="holds 1 rows"):
        _run(data)
    swapped = _context({"u": 0.3}, {"u": 2}, {"u": 1}, {"u": 0.5}, {"u": 0.7}, [("x", True), ("u", False)])
    swapped.p["x"] = 0.3
    with group_context.attached(swapped), pytest.raises(ValueError, match="does not belong"):
        _run(data)


def test_dr_grpo_flag_matches_verl_grpo_on_mixed_groups():
    """``algorithm.norm_adv_by_std_in_grpo=False``: aero equals verl's grpo on mixed groups, through verl's call."""
    scores = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    uids = ["a"] * 4 + ["b"] * 3 + ["c"] * 3
    for norm in (False, True):
        config = OmegaConf.create({"adv_estimator": "aero", "norm_adv_by_std_in_grpo": norm, "aero": {}})
        aero = compute_advantage(
            _data(scores, uids), adv_estimator="aero", norm_adv_by_std_in_grpo=norm, config=config
        ).batch["advantages"][:, -1]
        grpo = compute_advantage(
            _data(scores, uids), adv_estimator="grpo", norm_adv_by_std_in_grpo=norm, config=config
        ).batch["advantages"][:, -1]
        np.testing.assert_allclose(aero.numpy(), grpo.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"norm={norm}")


def test_grpo_advantage_half_is_verl_grpo_even_for_degenerate_groups():
    """``algorithm.aero.advantage=grpo``: every row gets verl's grpo advantage, a degenerate group included (0 where
    the posterior would give it a signal), with the trainer's context attached or not."""
    scores = [1.5, 0.5, 0.5, 0.5, 0.5, 1.5, 1.5, 1.5]  # a: mixed, b: all wrong, c: all right (shaped scores)
    uids = ["a", "a", "b", "b", "b", "c", "c", "c"]
    rows = [(uid, score > 1) for uid, score in zip(uids, scores, strict=True)]
    context = _context(
        {"a": 0.5, "b": 0.1, "c": 0.9},
        {"a": 2, "b": 3, "c": 3},
        {"a": 1, "b": 0, "c": 3},
        {"a": 1.0, "b": 0.5, "c": 1.5},
        {"a": 0.7, "b": 0.0, "c": 0.0},
        rows,
    )
    for norm in (False, True):
        config = OmegaConf.create(
            {"adv_estimator": "aero", "norm_adv_by_std_in_grpo": norm, "aero": {"advantage": "grpo"}}
        )
        grpo = compute_advantage(
            _data(scores, uids), adv_estimator="grpo", norm_adv_by_std_in_grpo=norm, config=config
        ).batch["advantages"][:, -1]
        with group_context.attached(context):
            aero = compute_advantage(
                _data(scores, uids), adv_estimator="aero", norm_adv_by_std_in_grpo=norm, config=config
            ).batch["advantages"][:, -1]
        np.testing.assert_allclose(aero.numpy(), grpo.numpy(), rtol=1e-6, atol=1e-7, err_msg=f"norm={norm}")
        assert np.all(aero.numpy()[2:] == 0.0)  # degenerate groups: no signal without the posterior
    with group_context.attached(context):
        posterior = _run(_data(scores, uids))
    assert np.all(posterior[2:5] < 0) and np.all(posterior[5:] > 0)  # the default half does give them one


def test_degenerate_weight_from_the_context_or_from_the_rows():
    """Group u mixed (2 rows), group v all wrong (4 kept rows): with degenerate_loss_share 0.5 the estimator scales
    v's posterior advantages by the trainer's weight when a context is attached, else by its own from the rows
    (0.5 / 0.5 * 2 mixed / 4 degenerate = 0.5); u's GRPO advantages never change."""
    data = _data([1.0, 0.0, 0.0, 0.0, 0.0, 0.0], ["u", "u", "v", "v", "v", "v"])
    unweighted = _run(data)
    from_rows = _run(data, degenerate_loss_share=0.5)
    np.testing.assert_allclose(from_rows[:2], unweighted[:2], rtol=1e-6)
    np.testing.assert_allclose(from_rows[2:], 0.5 * unweighted[2:], rtol=1e-6)
    context = _context(
        {"u": 0.5, "v": 0.1},
        {"u": 2, "v": 8},
        {"u": 1, "v": 0},
        {"u": 0.5, "v": 0.0},
        {"u": 0.7, "v": 0.0},
        [("u", True), ("u", False)] + [("v", False)] * 4,
    )
    context = dataclasses.replace(context, degenerate_weight=0.125)
    with group_context.attached(context):
        weighted = _run(data, degenerate_loss_share=0.5)
    expected = posterior_advantage(np.zeros(4), 0.1, AeroConfig().epsilon) * 0.125
    np.testing.assert_allclose(weighted[2:], expected, rtol=1e-6)
