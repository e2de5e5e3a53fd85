"""Demo asset builder: SFT encoding, success-spread summary, and a tiny end-to-end build (cached, seeded)."""

import json
from dataclasses import replace

import pandas as pd
import pytest

from aero_cpu import warm_start as ws
from aero_cpu.tiny_assets import build_tokenizer

TINY = ws.DemoAssetSpec(
    train_size=24,
    eval_size=8,
    mix="add1=1,add2=1",
    sft_size=64,
    sft_mix="add1=1",
    sft_steps=3,
    sft_batch_size=8,
    hidden_size=32,
    num_layers=1,
    intermediate_size=64,
)


def test_sft_example_trains_only_on_the_answer_and_end_of_turn(tmp_path):
    tokenizer = build_tokenizer(tmp_path / "tok")
    example = ws.encode_sft_example(tokenizer, "12+34=", "46")
    answer_ids = tokenizer("46<|im_end|>", add_special_tokens=False)["input_ids"]
    assert example["input_ids"][-len(answer_ids) :] == answer_ids
    assert example["labels"][-len(answer_ids) :] == answer_ids
    assert set(example["labels"][: -len(answer_ids)]) == {-100}
    prompt = tokenizer.decode(example["input_ids"][: -len(answer_ids)])
    assert prompt == "<|im_start|>user\n12+34=<|im_end|>\n<|im_start|>assistant\n"


def test_summarize_success_shares():
    summary = ws.summarize_success([0, 0, 2, 4, 4, 1], ["a", "a", "a", "b", "b", "b"], n=4)
    assert (summary["share_zero"], summary["share_mixed"], summary["share_all"]) == (0.3333, 0.3333, 0.3333)
    assert summary["mean_acc"] == round(11 / 24, 4)
    assert summary["by_difficulty"]["b"]["share_all"] == round(2 / 3, 4)
    assert summary["by_difficulty"]["a"]["share_zero"] == round(2 / 3, 4)
    assert "modal_acc" not in summary  # only when the per-prompt modal answers are given


def test_summarize_success_modal_acc_is_the_share_of_prompts_whose_most_sampled_answer_is_right():
    summary = ws.summarize_success([0, 3, 2, 4], ["a", "a", "b", "b"], n=4, modal_correct=[False, True, True, True])
    assert summary["modal_acc"] == 0.75
    assert summary["by_difficulty"]["a"]["modal_acc"] == 0.5 and summary["by_difficulty"]["b"]["modal_acc"] == 1.0


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_assets")
    return ws.build_demo_assets(root, TINY, measure_n=2)


def test_build_writes_loadable_model_data_and_measurement(built):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert len(pd.read_parquet(built.train_file)) == 24 and len(pd.read_parquet(built.eval_file)) == 8
    tokenizer = AutoTokenizer.from_pretrained(built.model_dir)
    assert len(tokenizer("\n", add_special_tokens=False)["input_ids"]) == 1  # verl's chat-template builder needs it
    assert tokenizer.eos_token == "<|im_end|>"
    AutoModelForCausalLM.from_pretrained(built.model_dir)
    stats = json.loads(built.warm_start_file.read_text())
    assert stats["steps"] == 3 and stats["num_parameters"] > 0
    success = json.loads(built.initial_success_file.read_text())
    assert success["n"] == 2 and success["num_prompts"] == 24
    assert success["share_zero"] + success["share_mixed"] + success["share_all"] == pytest.approx(1.0, abs=1e-3)
    assert set(success["by_difficulty"]) == {"add1", "add2"}
    # a prompt answered right every time has its right answer as mode; one never answered right cannot
    assert success["share_all"] <= success["modal_acc"] <= 1 - success["share_zero"]


def test_same_spec_is_not_rebuilt_and_a_new_spec_is(built):
    weights = built.model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert ws.is_up_to_date(built.root, TINY, measure_n=2)
    assert not ws.is_up_to_date(built.root, TINY, measure_n=4)
    ws.build_demo_assets(built.root, TINY, measure_n=2)
    assert weights.stat().st_mtime_ns == before
    ws.build_demo_assets(built.root, replace(TINY, sft_steps=2), measure_n=0)
    assert weights.stat().st_mtime_ns != before
    assert json.loads(built.warm_start_file.read_text())["steps"] == 2
    assert json.loads((built.root / ws.SPEC_FILE).read_text())["sft_steps"] == 2


def test_build_is_deterministic_by_seed(tmp_path):
    from safetensors.torch import load_file

    spec = replace(TINY, sft_steps=2)
    first = ws.build_demo_assets(tmp_path / "a", spec, measure_n=0)
    second = ws.build_demo_assets(tmp_path / "b", spec, measure_n=0)
    third = ws.build_demo_assets(tmp_path / "c", replace(spec, seed=1), measure_n=0)
    weights = [load_file(paths.model_dir / "model.safetensors") for paths in (first, second, third)]
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])
    hashes = [json.loads(paths.warm_start_file.read_text())["model_sha256"] for paths in (first, second, third)]
    assert hashes[0] == hashes[1] != hashes[2]
    assert not all((weights[0][k] == weights[2][k]).all() for k in weights[0])
    assert pd.read_parquet(first.train_file).equals(pd.read_parquet(second.train_file))
