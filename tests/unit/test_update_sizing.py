"""The update plan (``core/update_sizing.py``): optimizer steps per epoch and rows per step, for both sizings.

Worked against the CPU benchmark's shape: 16 prompts x budget 8, PPO mini-batch 8 prompts, so GRPO takes 2
optimizer steps of 64 trajectories per epoch.
"""

import pytest

from recipe.aero.core.update_sizing import plan_update

GRPO = {"grpo_mini_batches": 2, "grpo_mini_batch_rows": 64}


@pytest.mark.parametrize(
    ("rows", "mini_batches", "padded"),
    [
        (62, 1, 62),  # AERO's typical curated batch: one step of about GRPO's mini-batch
        (95, 1, 95),  # 95 / 64 = 1.48 rounds to 1: a step of 1.48 mini-batches rather than two of 0.74
        (96, 2, 96),  # 1.5 rounds half up to 2
        (97, 2, 98),  # two equal mini-batches of 49: one synthetic row
        (128, 2, 128),  # GRPO's own batch: exactly GRPO's update
        (160, 3, 162),  # 2.5 -> 3 steps of 54
        (20, 1, 20),  # far below half a mini-batch: still one step
        (1, 1, 1),
    ],
)
def test_samples_gives_each_step_about_grpos_mini_batch(rows, mini_batches, padded):
    plan = plan_update(rows, sizing="samples", dp_size=1, **GRPO)
    assert (plan.mini_batches, plan.padded_rows, plan.padding_rows) == (mini_batches, padded, padded - rows)
    assert plan.mini_batch_rows * plan.mini_batches == plan.padded_rows


@pytest.mark.parametrize(("rows", "padded"), [(62, 62), (63, 64), (128, 128), (1, 1)])
def test_steps_keeps_grpos_number_of_optimizer_steps(rows, padded):
    plan = plan_update(rows, sizing="steps", dp_size=1, **GRPO)
    assert plan.mini_batches == min(2, rows)
    assert (plan.padded_rows, plan.mini_batch_rows) == (padded, padded // plan.mini_batches)


@pytest.mark.parametrize("sizing", ["steps", "samples"])
@pytest.mark.parametrize("dp_size", [1, 2, 4, 8])
@pytest.mark.parametrize("rows", [1, 7, 61, 64, 97, 130, 255])
def test_every_rank_gets_an_equal_share_of_every_mini_batch_with_the_fewest_padding_rows(sizing, dp_size, rows):
    plan = plan_update(rows, sizing=sizing, dp_size=dp_size, **GRPO)
    multiple = dp_size * plan.mini_batches
    assert plan.padded_rows % multiple == 0  # verl's iterator and dispatch split evenly
    assert 0 <= plan.padding_rows < multiple  # never verl's padding up to GRPO's mini-batch


def test_samples_keeps_every_step_within_half_and_one_and_a_half_mini_batches():
    for rows in range(32, 1000):
        plan = plan_update(rows, sizing="samples", dp_size=1, **GRPO)
        per_step = rows / plan.mini_batches
        assert 32 <= per_step < 96, (rows, plan)
        if plan.mini_batches >= 2:
            assert 48 <= per_step < 80, (rows, plan)


def test_the_two_sizings_differ_by_the_kept_share_of_grpos_batch():
    """Half of GRPO's 128 rows kept: `steps` takes GRPO's 2 steps of 32, `samples` 1 step of 64 (half the steps)."""
    steps = plan_update(64, sizing="steps", dp_size=1, **GRPO)
    samples = plan_update(64, sizing="samples", dp_size=1, **GRPO)
    assert (steps.mini_batches, steps.mini_batch_rows) == (2, 32)
    assert (samples.mini_batches, samples.mini_batch_rows) == (1, 64)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizing": "tokens"}, "update sizing"),
        ({"trained_rows": 0}, "trained_rows"),
        ({"dp_size": 0}, "dp_size"),
        ({"grpo_mini_batch_rows": 0}, "grpo_mini_batch_rows"),
    ],
)
def test_bad_input_is_refused_by_name(kwargs, match):
    arguments = {"trained_rows": 10, "sizing": "samples", "dp_size": 1, **GRPO, **kwargs}
    with pytest.raises(ValueError, match=match):
        plan_update(**arguments)
