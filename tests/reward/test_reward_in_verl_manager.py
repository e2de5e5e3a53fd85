"""The reward loaded the way verl loads it (``reward.custom_reward_function``) and run by verl's NaiveRewardManager.

verl calls a sync reward function in an executor thread, where math_verify's signal-based timeout raises; this
checks that our function scores there, and that its extra keys (``acc``, ``pred``, ``reward_error``) reach
``reward_extra_info`` — the path into verl's metrics and AERO's success signal.
"""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
from verl.trainer.ppo.reward import get_custom_reward_fn

from aero_cpu.tiny_assets import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def _sample(tokenizer, data_source: str, response: str, truth: str) -> DataProto:
    prompt_ids = tokenizer("Q?", add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + response_ids])
    return DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([prompt_ids]),
            "responses": torch.tensor([response_ids]),
            "attention_mask": torch.ones_like(ids),
        },
        non_tensors={
            "data_source": np.array([data_source], dtype=object),
            "reward_model": np.array([{"ground_truth": truth, "style": "rule"}], dtype=object),
            "extra_info": np.array([{"index": 0}], dtype=object),
        },
    )


@pytest.mark.parametrize(
    "data_source, response, truth, expected",
    [
        ("amc23", "so \\boxed{\\dfrac{1}{2}}", "0.5", 1.0),  # a name verl's default_compute_score refuses
        ("math500", "Answer: 7", "8", 0.0),
        ("olympiadbench", "\\boxed{9^{9^{9^{9}}}}", "1", 0.0),  # hangs sympy: killed at the 1 s deadline
    ],
)
async def test_naive_manager_scores_with_custom_reward(tokenizer, data_source, response, truth, expected):
    reward_config = {"path": "pkg://recipe.aero.reward.math_reward", "name": "compute_score"}
    config = OmegaConf.create(
        {"reward": {"custom_reward_function": {**reward_config, "reward_kwargs": {"timeout_s": 1}}}}
    )
    manager = NaiveRewardManager(config, tokenizer, get_custom_reward_fn(config))

    result = await manager.run_single(_sample(tokenizer, data_source, response, truth))

    assert result["reward_score"] == expected
    info = result["reward_extra_info"]
    assert info["acc"] == expected
    assert info["reward_error"] == (1.0 if "9^{9" in response else 0.0)
    assert set(info) == {"score", "acc", "pred", "reward_error"}
