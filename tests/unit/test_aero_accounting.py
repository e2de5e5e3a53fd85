"""Per-step accounting (generated = trained + dropped), cumulative counters and validation pass@k metrics."""

import numpy as np
import pytest

from recipe.aero.accounting import (
    CumulativeCounters,
    StepRecord,
    batch_composition_metrics,
    describe_causes,
    step_compute_metrics,
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
        round_index=np.where(explore, 0, 1 + (session - n_explore) // cfg.n_extra),
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
    """LAYOUT by hand, as (generated, trained, dropped): rescue stratum = groups 0 and 1 (no success in the 4
    explore rollouts), (6 + 8, 2 + 4, 4 + 4); low = group 2, (4, 2, 2); high = groups 3 and 4, (4 + 4, 4 + 4, 0)."""
    metrics = step_metrics(_record(LAYOUT))
    assert tuple(metrics[f"aero/{kind}/rollouts"] for kind in ("gen", "train", "dropped")) == (26, 16, 10)
    assert (metrics["aero/gen/rollouts_explore"], metrics["aero/gen/rollouts_rescue"]) == (5 * 4, 2 + 4)
    per_stratum = {
        name: tuple(metrics[f"aero/strata/{kind}_rollouts_{name}"] for kind in ("gen", "train", "dropped"))
        for name in ("rescue", "low", "high")
    }
    assert per_stratum == {"rescue": (14, 6, 8), "low": (4, 2, 2), "high": (8, 8, 0)}
    assert sum(metrics[f"aero/strata/gen_rollouts_{n}"] for n in ("rescue", "low", "high")) == 26


def test_rescue_and_share_metrics_follow_the_layout():
    metrics = step_metrics(_record(LAYOUT))
    assert metrics["aero/gen/rollouts_rescue"] == 2 + 4
    assert metrics["aero/strata/prompts_rescue"] == 2
    assert metrics["aero/rescue/attempted_prompts"] == 2
    assert metrics["aero/rescue/succeeded_prompts"] == 1
    assert metrics["aero/rescue/rounds_max"] == 2
    assert metrics["aero/nonzero_acc_share/before_rescue"] == pytest.approx(3 / 5)
    assert metrics["aero/nonzero_acc_share/after_rescue"] == pytest.approx(4 / 5)
    assert metrics["aero/zero_adv_share/before"] == pytest.approx(3 / 5)


def test_one_race_round_is_one_rescue_round():
    """The rescue race runs a zero-success prompt's whole remaining budget as one round: 4 rescue rollouts, all in
    round 1. Counting rounds as rescue rollouts / n_extra would log 2."""
    record = _record([[0, 0, 0, 0, 0, 0, 1, 0], [1, 0, 0, 0]])
    record.round_index = np.where(record.session < 4, 0, 1)
    metrics = step_metrics(record)
    assert metrics["aero/rescue/attempted_prompts"] == 1
    assert metrics["aero/rescue/rounds_max"] == metrics["aero/rescue/rounds_mean"] == 1


def test_grpo_accounting_keeps_everything():
    metrics = step_metrics(_record([[1] * 8, [0, 1] * 4], n_explore=8, curate=False))
    assert metrics["aero/dropped/rollouts"] == 0
    assert metrics["aero/gen/rollouts_rescue"] == 0
    # response_tokens = arange(16) % 7 + 1: 1..7, 1..7, 1, 2
    assert metrics["aero/gen/response_tokens"] == metrics["aero/train/response_tokens"] == 28 + 28 + 3


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


def test_failure_causes_are_described_once_per_exception_type():
    causes = {"ValueError: bad answer on 3": 1, "ValueError: bad answer on 7": 2, "KeyError: 'ground_truth'": 1}
    assert describe_causes(causes) == (
        "failed with: ValueError: bad answer on 3 (3 prompts failed with ValueError); "
        "KeyError: 'ground_truth' (1 prompt failed with KeyError)"
    )
    assert describe_causes({}) == "no failure cause recorded"


def test_failed_and_nan_rollouts_tokens_are_generation_compute_never_training_compute():
    """LAYOUT: 26 usable rollouts of 10 prompt tokens and 1-7 response tokens (arange % 7 + 1: 3 full cycles of 28
    plus 1 + 2 + 3 + 4 + 5 = 99); the record also lost 3 removed rollouts of 10 + 4 tokens each."""
    record = _record(LAYOUT)
    record.failed_prompt_tokens, record.failed_response_tokens = 30, 12
    flops = step_compute_metrics(record, n_params=1000, with_reference=False, ppo_epochs=1)
    assert flops["aero/compute/gen_flops"] == 2 * 1000 * (26 * 10 + 99 + 30 + 12)
    kept = record.kept.astype(bool)
    trained_tokens = 16 * 10 + int(record.response_tokens[kept].sum())
    assert flops["aero/compute/update_flops"] == 6 * 1000 * trained_tokens
    metrics = step_metrics(record)
    assert metrics["aero/gen/response_tokens"] == 99 + 12 and metrics["aero/failed/response_tokens"] == 12
    assert metrics["aero/gen/prompt_tokens"] == 26 * 10 + 30
