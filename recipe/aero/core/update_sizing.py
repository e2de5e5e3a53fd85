"""How many optimizer steps an AERO update takes, and on how many trajectories each (DESIGN.md §2.8).

verl's update splits a step's batch into equal mini-batches, one optimizer step each, per PPO epoch. GRPO's batch of
``train_batch_size x N`` trajectories thus takes ``train_batch_size / ppo_mini_batch_size`` optimizer steps of
``ppo_mini_batch_size x N`` trajectories. AERO's curated batch is about half as large and its size varies from step
to step, and the paper does not say which of the two GRPO quantities its update keeps (``algorithm.aero.
update_sizing``):

* ``steps``: GRPO's number of optimizer steps, each on a proportionally smaller mini-batch (about twice the
  optimizer steps per trained rollout when half the rollouts are kept);
* ``samples``: GRPO's mini-batch in trajectories, and as many optimizer steps as the kept rollouts fill, rounded
  to the nearest whole number and at least one. verl's iterator needs mini-batches of equal size, so a remainder is
  never a short last step: the rows are split evenly over the rounded number of steps. Rounding (half up) keeps every
  step within 1/2 to 3/2 of GRPO's mini-batch (within 3/4 to 5/4 once there are two steps or more), the closest an
  equal split can get; rounding up would halve a step's batch for one row over a mini-batch, rounding down double
  it. A batch smaller than half a mini-batch still takes its one step.

Either way the mini-batches hold real rows only, up to the fewest synthetic rows verl needs to split the batch evenly
over ``data-parallel ranks x mini-batches`` (verl's padding rows carry no response tokens, so they add no loss).
"""

from __future__ import annotations

import dataclasses
import math

UPDATE_SIZINGS = ("steps", "samples")


@dataclasses.dataclass(frozen=True)
class UpdatePlan:
    """One step's update as verl will run it (per PPO epoch).

    Attributes:
        trained_rows: real trajectories in the batch.
        mini_batches: optimizer steps per PPO epoch.
        padded_rows: rows after verl's padding to a multiple of ``data-parallel size x mini_batches``.
    """

    trained_rows: int
    mini_batches: int
    padded_rows: int

    @property
    def mini_batch_rows(self) -> int:
        """Rows (trajectories, padding included) of each optimizer step."""
        return self.padded_rows // self.mini_batches

    @property
    def padding_rows(self) -> int:
        return self.padded_rows - self.trained_rows


def plan_update(
    trained_rows: int, *, sizing: str, grpo_mini_batches: int, grpo_mini_batch_rows: int, dp_size: int
) -> UpdatePlan:
    """The mini-batches of an AERO update of ``trained_rows`` trajectories.

    Args:
        trained_rows: real (non-padding) trajectories to train on, >= 1.
        sizing: ``steps`` or ``samples`` (module docstring).
        grpo_mini_batches: GRPO's optimizer steps per epoch, ``train_batch_size / ppo_mini_batch_size``.
        grpo_mini_batch_rows: GRPO's trajectories per optimizer step, ``ppo_mini_batch_size x budget``.
        dp_size: the actor's data-parallel size; every mini-batch is split evenly over its ranks.

    Returns:
        The plan; ``steps`` never asks for more mini-batches than there are rows.

    Raises:
        ValueError: for an unknown sizing or a non-positive count.
    """
    if sizing not in UPDATE_SIZINGS:
        raise ValueError(f"update sizing must be one of {list(UPDATE_SIZINGS)}, got {sizing!r}")
    for name, value in (
        ("trained_rows", trained_rows),
        ("grpo_mini_batches", grpo_mini_batches),
        ("grpo_mini_batch_rows", grpo_mini_batch_rows),
        ("dp_size", dp_size),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if sizing == "steps":
        mini_batches = min(grpo_mini_batches, trained_rows)
    else:
        mini_batches = max(1, math.floor(trained_rows / grpo_mini_batch_rows + 0.5))
    multiple = dp_size * mini_batches
    return UpdatePlan(trained_rows, mini_batches, -(-trained_rows // multiple) * multiple)
