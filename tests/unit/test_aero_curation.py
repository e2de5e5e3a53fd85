"""Batch curation: spec rules per stratum, accounting, reproducibility and randomness of the picks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.aero.core.config import AeroConfig
from recipe.aero.core.curation import curate_batch, stable_key_hash
from recipe.aero.core.curation_rules import kept_share_quota
from recipe.aero.core.groups import group_by
from recipe.aero.core.strata import STRATUM_NAMES, Stratum

FAST = settings(max_examples=80, deadline=None)


def _batch(groups):
    """groups: list of success lists -> (success, group_index, keys)."""
    success = np.array([s for group in groups for s in group], dtype=bool)
    group_index = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    return success, group_index, [f"math/{i}" for i in range(len(groups))]


def counts_by_stratum(result):
    """Per stratum name and ``total``: prompts, degenerate prompts, generated/kept/dropped rollouts."""
    selections = {name: result.stratum == stratum for stratum, name in STRATUM_NAMES.items()}
    selections["total"] = np.ones_like(result.degenerate)
    counts = {}
    for name, groups in selections.items():
        generated, kept = int(result.n_generated[groups].sum()), int(result.n_kept[groups].sum())
        counts[name] = {
            "prompts": int(groups.sum()),
            "degenerate_prompts": int((groups & result.degenerate).sum()),
            "generated": generated,
            "kept": kept,
            "dropped": generated - kept,
        }
    return counts


def test_low_success_group_keeps_all_correct_and_balanced_incorrect():
    success, group_index, keys = _batch([[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]])
    result = curate_batch(success, group_index, keys, step=0, cfg=AeroConfig())
    for group, correct in ((0, 1), (1, 2)):
        rows = group_index == group
        assert result.keep[rows & success].all()
        assert (result.keep[rows & ~success]).sum() == correct  # reject_ratio 1 -> m = c
    assert result.stratum.tolist() == [Stratum.LOW, Stratum.LOW]


def test_high_success_none_keeps_everything_and_mirror_swaps_roles():
    success, group_index, keys = _batch([[1, 1, 1, 0, 0, 1, 1, 1]])
    kept_none = curate_batch(success, group_index, keys, 0, AeroConfig())
    assert kept_none.keep.all()
    mirrored = curate_batch(success, group_index, keys, 0, AeroConfig(high_success_curation="mirror"))
    assert mirrored.keep[~success].all()
    assert mirrored.keep[success].sum() == 2  # m = min(6, max(1, round(1.0 * 2)))


def test_degenerate_groups_keep_degenerate_keep_or_all():
    success, group_index, keys = _batch([[1] * 8, [0] * 8, [0, 0]])
    result = curate_batch(success, group_index, keys, 0, AeroConfig(degenerate_keep=4))
    assert result.n_kept.tolist() == [4, 4, 2]
    assert result.degenerate.tolist() == [True, True, True]
    dropped = curate_batch(success, group_index, keys, 0, AeroConfig(degenerate_keep=0))
    assert not dropped.keep.any()


def test_no_curation_keeps_all_with_the_same_accounting():
    success, group_index, keys = _batch([[1, 0, 0, 0], [1] * 4, [0] * 8])
    result = curate_batch(success, group_index, keys, 3, AeroConfig(), apply_curation=False)
    assert result.keep.all()
    counts = counts_by_stratum(result)
    assert counts["rescue"] == {"prompts": 1, "degenerate_prompts": 1, "generated": 8, "kept": 8, "dropped": 0}
    assert counts["total"]["generated"] == 16


def test_quota_rounds_half_up():
    cfg = AeroConfig(reject_ratio=0.5, min_incorrect_kept=0)
    assert kept_share_quota(np.array([1, 3, 5]), np.array([10, 10, 10]), cfg).tolist() == [1, 2, 3]


def test_curate_refuses_bad_layouts():
    cfg = AeroConfig()
    with pytest.raises(ValueError, match="group 1 has no rollouts"):
        curate_batch(np.array([True, False]), np.array([0, 0]), ["a", "b"], 0, cfg)
    with pytest.raises(ValueError, match="group_index must lie in"):
        curate_batch(np.array([True]), np.array([2]), ["a"], 0, cfg)
    with pytest.raises(ValueError, match="step must be >= 0"):
        curate_batch(np.array([True]), np.array([0]), ["a"], -1, cfg)


def test_picks_are_uniform_over_steps():
    success, group_index, keys = _batch([[1, 0, 0, 0, 0]])  # keep 1 of 4 incorrect
    picks = np.zeros(len(success))
    for step in range(2000):
        picks += curate_batch(success, group_index, keys, step, AeroConfig()).keep
    shares = picks[1:] / 2000
    assert np.allclose(shares, 0.25, atol=0.04), shares


def test_stable_hash_and_picks_do_not_depend_on_the_process():
    success, group_index, keys = _batch([[1, 0, 0, 0, 0, 0, 0, 0]] * 20)
    here = curate_batch(success, group_index, keys, 7, AeroConfig(seed=3)).keep.tolist()
    code = (
        "import json, numpy as np\n"
        "from recipe.aero.core.config import AeroConfig\n"
        "from recipe.aero.core.curation import curate_batch, stable_key_hash\n"
        f"s = np.array({success.astype(int).tolist()}, bool); g = np.array({group_index.tolist()})\n"
        f"print(json.dumps([curate_batch(s, g, {keys!r}, 7, AeroConfig(seed=3)).keep.tolist(), "
        "stable_key_hash('math/1')]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    there, hashed = json.loads(output.stdout)
    assert there == here
    assert hashed == stable_key_hash("math/1")


@st.composite
def batches(draw):
    num_groups = draw(st.integers(1, 12))
    groups = [draw(st.lists(st.booleans(), min_size=1, max_size=16)) for _ in range(num_groups)]
    cfg = AeroConfig(
        reject_ratio=draw(st.sampled_from([0.5, 1.0, 1.5, 3.0])),
        min_incorrect_kept=draw(st.integers(0, 3)),
        high_success_curation=draw(st.sampled_from(["none", "mirror"])),
        degenerate_keep=draw(st.integers(0, 6)),
        rescue_threshold=draw(st.sampled_from([0.0, 0.2])),
        low_success_threshold=draw(st.sampled_from([0.5, 0.7])),
        seed=draw(st.integers(0, 1000)),
    )
    return groups, cfg, draw(st.integers(0, 10_000)), draw(st.randoms(use_true_random=False))


@FAST
@given(batches())
def test_curation_properties(case):
    groups, cfg, step, rnd = case
    success, group_index, keys = _batch(groups)
    result = curate_batch(success, group_index, keys, step, cfg)
    # Per group, (correct, incorrect) rollouts kept, from the spec's rules and the group's outcomes alone.
    expected_counts = {
        name: dict.fromkeys(("prompts", "degenerate_prompts", "generated", "kept"), 0)
        for name in ("rescue", "low", "high", "total")
    }
    for group, outcomes in enumerate(groups):
        rows = group_index == group
        n, c = len(outcomes), sum(outcomes)
        round_half_up = int(np.floor(cfg.reject_ratio * c + 0.5))
        if c in (0, n):  # degenerate: degenerate_keep rollouts, all of the group's one outcome
            expected = (min(n, cfg.degenerate_keep), 0) if c else (0, min(n, cfg.degenerate_keep))
        elif c / n < cfg.low_success_threshold:  # every correct rollout, m = k * c incorrect ones
            expected = (c, min(n - c, max(cfg.min_incorrect_kept, round_half_up)))
        elif cfg.high_success_curation == "none":
            expected = (c, n - c)
        else:  # mirror: roles swapped
            expected = (min(c, max(cfg.min_incorrect_kept, int(np.floor(cfg.reject_ratio * (n - c) + 0.5)))), n - c)
        assert (result.keep[rows & success].sum(), result.keep[rows & ~success].sum()) == expected
        assert result.n_kept[group] == sum(expected)
        stratum = "rescue" if c / n <= cfg.rescue_threshold else "low" if c / n < cfg.low_success_threshold else "high"
        for name in (stratum, "total"):
            expected_counts[name]["prompts"] += 1
            expected_counts[name]["degenerate_prompts"] += c in (0, n)
            expected_counts[name]["generated"] += n
            expected_counts[name]["kept"] += sum(expected)
    # Accounting: generated = kept + dropped per stratum and in total, against the counts above.
    for entry in expected_counts.values():
        entry["dropped"] = entry["generated"] - entry["kept"]
    counts = counts_by_stratum(result)
    assert counts == expected_counts
    assert sum(counts[name]["generated"] for name in ("rescue", "low", "high")) == len(success)
    # Reproducible: same seed/step/keys -> same picks; with rollout ids, independent of row order.
    again = curate_batch(success, group_index, keys, step, cfg)
    assert np.array_equal(again.keep, result.keep)
    rollout_ids = np.arange(len(success))
    permutation = list(range(len(success)))
    rnd.shuffle(permutation)
    permutation = np.array(permutation)
    base = curate_batch(success, group_index, keys, step, cfg, rollout_ids=rollout_ids)
    shuffled = curate_batch(
        success[permutation], group_index[permutation], keys, step, cfg, rollout_ids=rollout_ids[permutation]
    )
    assert np.array_equal(shuffled.keep, base.keep[permutation])


def test_group_by_numbers_groups_in_order_of_first_appearance():
    group_index, keys = group_by(np.array(["b", "a", "b", "c", "a"], dtype=object))
    assert group_index.tolist() == [0, 1, 0, 2, 1]
    assert keys == ["b", "a", "c"]
    assert group_by([])[1] == []
