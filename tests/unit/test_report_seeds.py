"""Pure helpers of the across-seed report (``recipe.aero.seeds``)."""

import pytest

from recipe.aero.seeds import SeedStat, arm_of, first_at_or_above, spent_until

AVG = "aero_val/ds/avg@8"


def test_seed_suffix_names_the_arm_and_other_names_are_their_own_arm():
    assert arm_of("aero_s2") == "aero" and arm_of("grpo_guided_s10") == "grpo_guided"
    assert arm_of("aero") == "aero" and arm_of("aero_seed1") == "aero_seed1"


def test_seed_stat_is_mean_and_sample_std_over_the_seeds_that_logged_it():
    stat = SeedStat.of([0.2, None, 0.4])
    assert (stat.mean, stat.n) == (pytest.approx(0.3), 2) and stat.std == pytest.approx(0.1414, abs=1e-4)
    assert SeedStat.of([0.5]) == SeedStat(0.5, 0.0, 1) and SeedStat.of([None]) == SeedStat(None, None, 0)


def test_to_target_is_the_first_validation_at_or_above_and_what_was_spent_until_then():
    history = {
        0: {AVG: 0.10},
        1: {"timing_s/step": 2.0, "aero/cumulative/total_flops": 10.0},
        2: {"timing_s/step": 3.0, "aero/cumulative/total_flops": 20.0, AVG: 0.30},
        3: {"timing_s/step": 4.0, "aero/cumulative/total_flops": 30.0},
        4: {"timing_s/step": 5.0, "aero/cumulative/total_flops": 40.0, AVG: 0.25},
    }
    assert first_at_or_above(history, 8, "ds", 0.3) == 2
    assert first_at_or_above(history, 8, "ds", 0.05) == 0 and first_at_or_above(history, 8, "ds", 0.31) is None
    assert spent_until(history, 2) == {"flops": 20.0, "train_s": 5.0}
    assert spent_until(history, 0) == {"flops": 0.0, "train_s": 0.0}


def test_avg_at_k_reads_the_validation_with_the_most_samples_and_pass_at_k_only_at_k():
    """A validation with n = 64 samples per problem logs avg@64 and pass@1..64: Avg@8 is its avg@64 (same quantity,
    less noise), Pass@8 its pass@8; an avg@4 (fewer samples than k) never stands in for Avg@8."""
    from recipe.aero.report import validation_at

    metrics = {"aero_val/ds/avg@64": 0.25, "aero_val/ds/pass@8": 0.6, "aero_val/ds/pass@64": 0.9}
    assert validation_at(metrics, 8) == {"ds": {"avg": 0.25, "pass": 0.6, "avg_source": "aero_val"}}
    assert validation_at({"aero_val/ds/avg@8": 0.2, "aero_val/ds/avg@64": 0.25}, 8)["ds"]["avg"] == 0.25
    assert validation_at({"aero_val/ds/avg@4": 0.3, "aero_val/ds/pass@4": 0.5}, 8) == {}
    verl = {"val-core/ds/acc/mean@8": 0.2}
    assert validation_at(verl, 8) == {"ds": {"avg": 0.2, "pass": None, "avg_source": "val-core"}}
