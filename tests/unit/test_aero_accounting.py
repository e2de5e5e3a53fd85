"""Per-step accounting (generated = trained + dropped), cumulative counters and validation pass@k metrics."""

import numpy as np
import pytest

from recipe.aero.accounting import (
    CumulativeCounters,
    StepRecord,
    batch_composition_metrics,
    step_metrics,
    zero_advantage_share,
)
from recipe.aero.core.config import AeroConfig
from recipe.aero.core.curation import curate_batch
from recipe.aero.core.strata import stratify
from recipe.aero.validation import pass_at_k_metrics


def _record(successes: list[list[int]], n_explore: int = 4, curate: bool = True) -> StepRecord:
    cfg = AeroConfig(n_explore=n_explore)
    group_index = np.concatenate([np.full(len(s), g) for g, s in enumerate(successes)])
    session = np.concatenate([np.arange(len(s)) for s in successes])
    success = np.concatenate([np.asarray(s, dtype=bool) for s in successes])
    keys = [f"src/{g}" for g in range(len(successes))]
    result = curate_batch(success, group_index, keys, 3, cfg, rollout_ids=session, apply_curation=curate)
    explore = session < n_explore
    n_explore_correct = np.bincount(group_index, weights=explore & success).astype(np.int64)
    n_explore_generated = np.bincount(group_index, weights=explore).astype(np.int64)
    return StepRecord(
        group_index=group_index,
        session=session,
        score=success.astype(float),
        success=success,
        is_rescue=~explore,
        kept=result.keep,
        prompt_tokens=np.full(len(success), 10),
        response_tokens=np.arange(len(success)) % 7 + 1,
        uids=[f"uid{g}" for g in range(len(successes))],
        prompt_keys=keys,
        n_generated=result.n_generated,
        n_correct=result.n_correct,
        n_explore_generated=n_explore_generated,
        n_explore_correct=n_explore_correct,
        stratum=stratify(n_explore_correct, n_explore_generated, cfg),
    )


# rescued to a first success; failed rescue at budget 8; low success; all correct; high success mixed
LAYOUT = [[0, 0, 0, 0, 0, 1], [0] * 8, [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]]


def test_generated_equals_trained_plus_dropped_overall_and_per_stratum():
    metrics = step_metrics(_record(LAYOUT), n_extra=2)
    assert metrics["aero/gen/rollouts"] == metrics["aero/train/rollouts"] + metrics["aero/dropped/rollouts"]
    assert metrics["aero/gen/rollouts"] == metrics["aero/gen/rollouts_explore"] + metrics["aero/gen/rollouts_rescue"]
    for name in ("rescue", "low", "high"):
        assert (
            metrics[f"aero/strata/gen_rollouts_{name}"]
            == metrics[f"aero/strata/train_rollouts_{name}"] + metrics[f"aero/strata/dropped_rollouts_{name}"]
        )
    assert sum(metrics[f"aero/strata/gen_rollouts_{n}"] for n in ("rescue", "low", "high")) == 26


def test_rescue_and_share_metrics_follow_the_layout():
    metrics = step_metrics(_record(LAYOUT), n_extra=2)
    assert metrics["aero/gen/rollouts_rescue"] == 2 + 4
    assert metrics["aero/strata/prompts_rescue"] == 2
    assert metrics["aero/rescue/attempted_prompts"] == 2
    assert metrics["aero/rescue/succeeded_prompts"] == 1
    assert metrics["aero/rescue/rounds_max"] == 2
    assert metrics["aero/nonzero_acc_share/before_rescue"] == pytest.approx(3 / 5)
    assert metrics["aero/nonzero_acc_share/after_rescue"] == pytest.approx(4 / 5)
    assert metrics["aero/zero_adv_share/before"] == pytest.approx(3 / 5)


def test_grpo_accounting_keeps_everything():
    metrics = step_metrics(_record([[1] * 8, [0, 1] * 4], n_explore=8, curate=False), n_extra=1)
    assert metrics["aero/dropped/rollouts"] == 0
    assert metrics["aero/gen/rollouts_rescue"] == 0
    assert metrics["aero/train/response_tokens"] == metrics["aero/gen/response_tokens"]


def test_group_rows_report_sessions_in_generation_order():
    rows = _record(LAYOUT).group_rows(step=3)
    assert rows[0]["sessions"] == list(range(6)) and rows[0]["success"] == [0, 0, 0, 0, 0, 1]
    assert rows[0]["stratum"] == "rescue" and rows[0]["n_generated"] == 6
    assert sum(rows[2]["kept"]) == 2  # low success: 1 correct + 1 incorrect


def test_zero_advantage_share_counts_only_trained_groups():
    group_index = np.array([0, 0, 1, 1, 3])
    abs_max = np.array([0.0, 0.0, 0.5, 0.0, 0.0])
    assert zero_advantage_share(group_index, abs_max, n_groups=4) == pytest.approx(2 / 3)


def test_cumulative_counters_round_trip_and_refuse_partial_state():
    counters = CumulativeCounters()
    counters.add({"aero/gen/rollouts": 4, "aero/compute/total_flops": 10.0})
    out = counters.add({"aero/gen/rollouts": 6})
    assert out["aero/cumulative/gen_rollouts"] == 10 and out["aero/cumulative/total_flops"] == 10.0
    restored = CumulativeCounters()
    restored.load_state_dict(counters.state_dict())
    assert restored.totals == counters.totals
    with pytest.raises(ValueError, match="total_flops"):
        restored.load_state_dict({"gen_rollouts": 1.0})


def test_pass_at_k_metrics_are_unbiased_per_data_source():
    sources = ["a"] * 16 + ["b"] * 8
    uids = ["p1"] * 8 + ["p2"] * 8 + ["q1"] * 8
    correct = [1] + [0] * 7 + [0] * 8 + [1] * 8
    metrics = pass_at_k_metrics(sources, uids, correct)
    assert metrics["aero_val/a/pass@8"] == pytest.approx(0.5)  # one of two problems has a correct sample
    assert metrics["aero_val/a/pass@1"] == pytest.approx((1 / 8) / 2)
    assert metrics["aero_val/a/avg@8"] == pytest.approx(1 / 16)
    assert metrics["aero_val/b/pass@4"] == 1.0 and metrics["aero_val/b/avg@8"] == 1.0
    assert set(k for k in metrics if k.startswith("aero_val/a/")) == {
        "aero_val/a/avg@8",
        "aero_val/a/pass@1",
        "aero_val/a/pass@2",
        "aero_val/a/pass@4",
        "aero_val/a/pass@8",
    }


def test_batch_composition_counts_kept_rows_of_degenerate_groups():
    """LAYOUT kept rows, by hand: rescued 1+1, low 1+1, high-success mixed 4 (8 mixed); failed rescue and all-correct
    degenerate_keep 4 each (8 degenerate)."""
    record = _record(LAYOUT)
    assert batch_composition_metrics(record, None) == {
        "aero/batch/degenerate_rollout_share": 0.5,
        "aero/batch/degenerate_weight": 1.0,
    }
    uncapped = batch_composition_metrics(record, 1.0)
    assert uncapped["aero/batch/degenerate_weight"] == 1.0 and uncapped["aero/batch/degenerate_loss_share"] == 0.5
    capped = batch_composition_metrics(record, 0.25)
    assert capped["aero/batch/degenerate_weight"] == pytest.approx(1 / 3)  # (0.25 / 0.75) * 8 / 8
    assert capped["aero/batch/degenerate_loss_share"] == pytest.approx(0.25)
    assert capped["aero/batch/degenerate_rollout_share"] == 0.5  # the rows stay; only their weight changes
