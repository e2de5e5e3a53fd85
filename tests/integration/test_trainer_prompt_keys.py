"""The trainer reads each prompt's posterior key from verl's real dataloader batch (guided exploration's input).

verl 0.9.1's V1 trainer hands ``_submit_batch_to_rollout`` a TensorDict built by ``tu.get_tensordict`` from the
dataset's collated batch; its non-tensor columns read back as lazy stacks, not lists or tensors.
"""

import numpy as np
from omegaconf import OmegaConf
from verl.utils import tensordict_utils as tu
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

from aero_cpu import synthetic_arith
from aero_cpu.tiny_assets import build_tokenizer
from recipe.aero.trainer import prompt_keys


def test_prompt_keys_of_a_verl_batch_match_the_sampler_keys(tmp_path):
    splits = synthetic_arith.generate_splits(8, 2, synthetic_arith.parse_mix("add1=1.0"), seed=0)
    paths = synthetic_arith.write_splits(splits, tmp_path / "data")
    tokenizer = build_tokenizer(tmp_path / "tokenizer")
    config = OmegaConf.create(
        {"max_prompt_length": 48, "prompt_key": "prompt", "truncation": "error", "filter_overlong_prompts": False}
    )
    dataset = RLHFDataset([str(paths["train"])], tokenizer, config)

    def chunk(rows: list[int]):
        batch = collate_fn([dataset[i] for i in rows])
        batch["uid"] = np.array([f"u{i}" for i in rows], dtype=object)
        return tu.get_tensordict(batch)

    batch = tu.concat_tensordict([chunk([5, 2, 7]), chunk([0, 3])])  # as verl coalesces gen-batch chunks
    assert prompt_keys(batch) == [f"synthetic_arith/{i}" for i in (5, 2, 7, 0, 3)]
