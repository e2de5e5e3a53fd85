"""Entry point of the AERO recipe: ``python -m recipe.aero.main_aero [hydra overrides]``.

Replaces verl's ``verl.trainer.main_ppo`` only to (1) compose ``config/aero_trainer.yaml``, (2) refuse a bad
configuration or bad training data before Ray or any model starts, and (3) run verl's own ``run_ppo`` with a task
runner that registers the AERO trainer first. Everything else (workers, rollout, updates, logging, checkpoints)
is verl's. ``algorithm.adv_estimator=aero`` runs AERO; ``algorithm.adv_estimator=grpo`` runs the GRPO baseline
through the same trainer and accounting.
"""

from __future__ import annotations

import logging

import hydra
import ray
from omegaconf import DictConfig, open_dict
from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import validate_config
from verl.utils.device import auto_set_device

from recipe.aero.core.config import AeroConfig
from recipe.aero.prompt_ids import check_prompt_ids

logger = logging.getLogger(__name__)


def prepare_config(config: DictConfig) -> AeroConfig:
    """Validates the composed config (cheap checks only, no Ray) and applies AERO's derived settings.

    For AERO, ``actor_rollout_ref.rollout.n`` is set to ``algorithm.aero.budget``: verl sizes PPO mini-batches as
    ``ppo_mini_batch_size * rollout.n`` trajectories, so both arms then split their batches alike; the number of
    rollouts each prompt really gets is decided by the AERO agent loop.

    Raises:
        AeroConfigError: an invalid ``algorithm.aero`` value (the message names the key).
        PromptIdError: training rows without a unique ``(data_source, extra_info.index)``.
        ValueError: settings AERO cannot run with.
    """
    aero = AeroConfig.from_mapping(config.algorithm.get("aero"))
    if not config.trainer.use_v1 or config.trainer.v1.trainer_mode != "aero":
        raise ValueError(
            "recipe.aero.main_aero needs trainer.use_v1=true and trainer.v1.trainer_mode=aero (the defaults of "
            f"aero_trainer.yaml); got use_v1={config.trainer.use_v1}, trainer_mode={config.trainer.v1.trainer_mode}"
        )
    reward_model = config.reward.reward_model
    if reward_model.enable and not reward_model.get("enable_resource_pool", False):
        raise ValueError(
            "AERO decides rescue rounds from rewards computed while rolling out: a colocated reward model "
            "(reward.reward_model.enable=true without enable_resource_pool) scores only after sampling"
        )
    if config.algorithm.adv_estimator == "aero":
        with open_dict(config):
            config.actor_rollout_ref.rollout.n = aero.budget
    from recipe.aero.preflight import validate_launch_config

    validate_launch_config(config)
    train_files = config.data.train_files
    check_prompt_ids([train_files] if isinstance(train_files, str) else list(train_files))
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
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    run_ppo(config, task_runner_class=ray.remote(num_cpus=1)(AeroTaskRunner))


if __name__ == "__main__":
    main()
