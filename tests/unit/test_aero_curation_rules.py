"""Curation rules registry: properties every registered rule must have, and a rule added by registration alone."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recipe.aero.core import curation_rules
from recipe.aero.core.config import AeroConfig, AeroConfigError
from recipe.aero.core.curation import curate_batch
from recipe.aero.core.curation_rules import GROUP_KINDS, curation_rule_names, get_curation_rule, register_curation_rule

FAST = settings(max_examples=60, deadline=None)
EVERY_RULE = [(kind, name) for kind in GROUP_KINDS for name in curation_rule_names(kind)]


def _batch(groups):
    success = np.array([s for group in groups for s in group], dtype=bool)
    group_index = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    return success, group_index, [f"math/{i}" for i in range(len(groups))]


def _kind_of(outcomes, cfg):
    correct = sum(outcomes)
    if correct in (0, len(outcomes)):
        return "degenerate"
    return "high_success" if correct / len(outcomes) >= cfg.low_success_threshold else "low_success"


@st.composite
def batches(draw):
    groups = [draw(st.lists(st.booleans(), min_size=1, max_size=12)) for _ in range(draw(st.integers(1, 10)))]
    knobs = {
        "reject_ratio": draw(st.sampled_from([0.5, 1.0, 3.0])),
        "min_incorrect_kept": draw(st.integers(0, 3)),
        "degenerate_keep": draw(st.integers(0, 6)),
        "seed": draw(st.integers(0, 1000)),
    }
    return groups, knobs, draw(st.integers(0, 10_000))


def test_builtin_rules_are_registered():
    assert set(EVERY_RULE) >= {
        ("low_success", "rejection"),
        ("high_success", "none"),
        ("high_success", "mirror"),
        ("degenerate", "subsample"),
    }


@pytest.mark.parametrize(("kind", "name"), EVERY_RULE, ids=[f"{k}:{n}" for k, n in EVERY_RULE])
@FAST
@given(case=batches())
def test_every_registered_rule_keeps_whole_rows_within_what_was_generated_reproducibly(kind, name, case):
    groups, knobs, step = case
    cfg = AeroConfig(**knobs, **{f"{kind}_curation": name})
    success, group_index, keys = _batch(groups)
    result = curate_batch(success, group_index, keys, step, cfg)
    # Whole rows: one boolean per generated rollout, and the per-group counts are the sums of that mask.
    assert result.keep.dtype == bool and result.keep.shape == success.shape
    assert result.n_kept.tolist() == np.bincount(group_index, weights=result.keep).astype(int).tolist()
    for group, outcomes in enumerate(groups):
        rows = group_index == group
        n, c = len(outcomes), sum(outcomes)
        kept_correct, kept_wrong = result.keep[rows & success].sum(), result.keep[rows & ~success].sum()
        assert 0 <= kept_correct <= c and 0 <= kept_wrong <= n - c  # never more than generated, per outcome
        if _kind_of(outcomes, cfg) == kind:  # the counts the rule asked for are the counts kept
            wanted = get_curation_rule(kind, name)(np.array([c]), np.array([n]), cfg)
            assert (kept_correct, kept_wrong) == (int(wanted[0][0]), int(wanted[1][0]))
    # Deterministic for a seed, and a pure function of the rollout ids rather than the row order.
    assert np.array_equal(curate_batch(success, group_index, keys, step, cfg).keep, result.keep)
    reverse = np.arange(len(success))[::-1]
    ids = np.arange(len(success))
    forward = curate_batch(success, group_index, keys, step, cfg, rollout_ids=ids)
    backward = curate_batch(success[reverse], group_index[reverse], keys, step, cfg, rollout_ids=ids[reverse])
    assert np.array_equal(backward.keep, forward.keep[reverse])


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry as it is, copied, so rules registered by a test disappear with it."""
    copy = {kind: dict(rules) for kind, rules in curation_rules._RULES.items()}
    monkeypatch.setattr(curation_rules, "_RULES", copy)


@pytest.fixture
def keep_one_correct_rule(scratch_registry):
    """A high-success rule registered by this test alone: one correct rollout and every incorrect one."""

    @register_curation_rule("high_success", "one_correct")
    def one_correct(n_correct, n_generated, cfg):
        return np.minimum(n_correct, 1), n_generated - n_correct

    return "one_correct"


def test_a_rule_registered_in_a_test_takes_effect_in_curation(keep_one_correct_rule):
    success, group_index, keys = _batch([[1, 1, 1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    cfg = AeroConfig.from_mapping({"high_success_curation": keep_one_correct_rule})
    result = curate_batch(success, group_index, keys, 0, cfg)
    default = curate_batch(success, group_index, keys, 0, AeroConfig())
    assert result.n_kept.tolist() == [2, 2, 4]  # the high-success group keeps 1 correct + 1 incorrect
    assert default.n_kept.tolist() == [6, 2, 4]  # low-success and degenerate groups untouched by the new rule
    assert result.keep[(group_index == 0) & ~success].all()


def test_an_unregistered_rule_name_is_refused_naming_the_key():
    with pytest.raises(AeroConfigError, match=r"algorithm\.aero\.high_success_curation='one_correct'.*registered"):
        AeroConfig(high_success_curation="one_correct")


def test_duplicate_or_unknown_registrations_are_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_curation_rule("high_success", "mirror")(lambda c, n, cfg: (c, n - c))
    with pytest.raises(ValueError, match="unknown group kind"):
        register_curation_rule("medium_success", "x")


def test_a_rule_asking_for_more_rollouts_than_generated_is_refused(scratch_registry):
    @register_curation_rule("degenerate", "too_many")
    def too_many(n_correct, n_generated, cfg):
        return n_generated + 1, n_generated - n_correct

    success, group_index, keys = _batch([[1, 1]])
    with pytest.raises(ValueError, match="degenerate curation rule 'too_many'"):
        curate_batch(success, group_index, keys, 0, AeroConfig(degenerate_curation="too_many"))
