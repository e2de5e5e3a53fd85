"""Pure helpers of the report's ablation table (``recipe.aero.ablations``)."""

import math

import pytest

from recipe.aero.ablations import PairedDifference, render_ablations, summarize_ablations, variants_of
from recipe.aero.report import summarize_arm
from recipe.aero.seeds import seed_of, summarize_across_seeds

AVG = "aero_val/ds/avg@8"


def test_seed_of_reads_the_suffix_only():
    assert seed_of("aero_decay0_s12") == 12 and seed_of("aero_s0") == 0
    assert seed_of("aero") is None and seed_of("aero_s1x") is None


def test_a_variant_belongs_to_the_longest_arm_its_name_extends():
    names = ["grpo", "aero", "aero_race", "aero_race_guided", "aero_decay0", "aeroplane"]
    assert variants_of(names) == {"aero_race": "aero", "aero_race_guided": "aero_race", "aero_decay0": "aero"}
    assert variants_of(["grpo", "aero"]) == {}


def test_paired_difference_uses_only_the_seeds_both_ran():
    paired = PairedDifference.of({0: 0.55, 1: 0.50, 2: 0.60, 3: None}, {0: 0.50, 1: 0.50, 3: 0.4, 4: 0.5})
    assert paired.seeds == [0, 1] and paired.diffs == pytest.approx([0.05, 0.0])
    assert paired.mean == pytest.approx(0.025)
    assert paired.se == pytest.approx(0.05 / math.sqrt(2) / math.sqrt(2))  # stdev([0.05, 0]) / sqrt(2)
    assert paired.t == pytest.approx(paired.mean / paired.se)
    single = PairedDifference.of({0: 0.6}, {0: 0.5})
    assert single.mean == pytest.approx(0.1) and (single.se, single.t) == (None, None)
    assert PairedDifference.of({1: 0.6}, {0: 0.5}).mean is None
    unseeded = PairedDifference.of({None: 0.6, 1: 0.5}, {None: 0.4, 1: 0.25})  # a run named without _s<seed>
    assert unseeded.seeds == [1] and unseeded.mean == pytest.approx(0.25)


def _history(finals_by_step):
    history = {0: {AVG: 0.1}}
    for step, avg in finals_by_step.items():
        history[step] = {"timing_s/step": 1.0, "aero/cumulative/total_flops": 10.0 * step}
        history[step]["aero/cumulative/train_rollouts"] = 5 * step
        if avg is not None:
            history[step][AVG] = avg
    return history


def test_blocks_pair_each_variant_and_the_baseline_with_the_default_seed_by_seed():
    histories = {
        "grpo_s0": _history({1: None, 2: 0.6}),
        "grpo_s1": _history({1: None, 2: 0.4}),
        "aero_s0": _history({1: 0.3, 2: 0.5}),
        "aero_s1": _history({1: 0.3, 2: 0.3}),
        "aero_x_s1": _history({1: 0.5, 2: 0.45}),
        "aero_x_s2": _history({1: 0.5, 2: 0.9}),
    }
    arms = [summarize_arm(name, history, 8) for name, history in histories.items()]
    target, rows = summarize_across_seeds(histories, arms, 8, "ds", "grpo")
    ablations = summarize_ablations(histories, arms, rows, 8, "ds", "grpo")
    assert target == pytest.approx(0.5)
    assert [(row.arm, row.default) for row in ablations] == [("aero", "aero"), ("aero_x", "aero"), ("grpo", "aero")]
    default, variant, baseline = ablations
    assert default.paired is None and default.reached == [2, None]
    assert variant.paired.seeds == [1] and variant.paired.mean == pytest.approx(0.15)  # seed 2 has no default run
    assert baseline.paired.diffs == pytest.approx([0.1, 0.1]) and baseline.paired.se == pytest.approx(0.0)
    assert variant.val_avg[1].mean == pytest.approx(0.5) and variant.val_avg[2].mean == pytest.approx(0.675)
    assert variant.flops_vs_baseline == pytest.approx(1.0) and variant.train_rollouts.mean == pytest.approx(10)
    assert variant.finals == [0.45, 0.9] and variant.seeds == [1, 2]
    table = render_ablations(ablations, target, 8, "ds", "grpo")
    assert "| aero_x | 1, 2 | 0.100 ± 0.000 | 0.500 ± 0.000 | 0.675 ± 0.318 |" in "\n".join(table)
    assert table[4].endswith("| 1/2 (2, —) | 0.500, 0.300 | — |")  # the default's row
    assert table[5].endswith("| 2/2 (1, 1) | 0.450, 0.900 | +0.150 (1 seed) |")
    assert table[6].startswith("| grpo | 0, 1 |") and "| 0.600, 0.400 | +0.100 ± 0.000 (t = " in table[6]


def test_paired_difference_without_spread_has_no_t():
    paired = PairedDifference.of({0: 0.5, 1: 0.75}, {0: 0.25, 1: 0.5})
    assert paired.diffs == [0.25, 0.25] and paired.se == 0.0 and paired.t is None
