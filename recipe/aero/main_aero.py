"""Entry point of the AERO recipe: ``python -m recipe.aero.main_aero [hydra overrides]``.

Replaces verl's ``verl.trainer.main_ppo`` only to (1) compose ``config/aero_trainer.yaml``, (2) refuse a bad
configuration or bad training data before Ray or any model starts, and (3) run verl's own ``run_ppo`` with a task
runner that registers the AERO trainer first. Everything else (workers, rollout, updates, logging, checkpoints)
is verl's. ``algorithm.adv_estimator=aero`` runs AERO (or one of its halves: ``algorithm.aero.rollout`` /
``algorithm.aero.advantage``); ``algorithm.adv_estimator=grpo`` runs the GRPO baseline through the same trainer and
accounting.
"""

from __future__ import annotations

import logging

import hydra
import ray
from omegaconf import DictConfig
from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
from verl.utils.device import auto_set_device

from recipe.aero.core.config import AeroConfig
from recipe.aero.preflight import apply_derived_settings, validate_launch_config

logger = logging.getLogger(__name__)


def prepare_config(config: DictConfig) -> AeroConfig:
    """Validates the composed config (cheap checks only, no Ray) and applies AERO's derived settings
    (:func:`recipe.aero.preflight.apply_derived_settings`: ``rollout.n = budget`` with adaptive rollouts).

    Raises:
        AeroConfigError: an invalid ``algorithm.aero`` value (the message names the key).
        PreflightError: every other launch problem found by :mod:`recipe.aero.preflight` (batch divisibility,
            dynamic batch sizes, trainer mode, reward wiring, data files and unique prompt ids, verl's own checks).
    """
    aero = AeroConfig.from_mapping(config.algorithm.get("aero"))
    apply_derived_settings(config)
    for warning in validate_launch_config(config):
        logger.warning("preflight: %s", warning)
    return aero


class AeroTaskRunner(TaskRunnerV1.__ray_actor_class__):
    """verl's V1 task runner, with the AERO trainer and estimator registered in its process first."""

    def run(self, config: DictConfig):
        import recipe.aero.trainer  # noqa: F401  (registers trainer mode "aero")
        from recipe.aero.register import assert_registered

        assert_registered()
        return super().run(config)


@hydra.main(config_path="config", config_name="aero_trainer", version_base=None)
def main(config: DictConfig) -> None:
    auto_set_device(config)
    prepare_config(config)
    run_ppo(config, task_runner_class=ray.remote(num_cpus=1)(AeroTaskRunner))


if __name__ == "__main__":
    main()
