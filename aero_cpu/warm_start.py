"""Builds the CPU demo's assets: the synthetic arithmetic data and a warm-started tiny Qwen2 policy.

Why a warm start: RL with verifiable rewards starts from a model that already answers in the right format and
solves part of the problems. A random model solves nothing, so every group would be all-wrong and GRPO and
AERO alike would learn nothing. A short supervised fine-tune (HF ``transformers.Trainer``) on mostly easy
problems gives the spread of per-prompt success rates that AERO is designed for: many prompts at 0 of N
(the rescue stratum), some at N of N (degenerate all-correct groups) and a mixed band in between. Its labels
are right only with a per-level probability (``sft_label_accuracy``; a wrong label restates the question before the
answer, ``sft_slip``), so the policy knows answers but samples slips: that is what RL can sharpen in a few dozen steps
(an exactly-labelled warm start left both arms flat).

Everything is written under one cache directory (default ``<repo>/.cache/cpu_demo``)::

    data/train.parquet, data/test.parquet   verl-schema synthetic task (aero_cpu.synthetic_arith)
    model/                                  save_pretrained model + tokenizer (actor_rollout_ref.model.path)
    warm_start.json                         SFT loss, wall-clock, parameter count, sha256 of the weights
    initial_success.json                    measure_initial_success on the train split (n=4, temperature 1)
    spec.json                               written last; a rebuild happens only when the spec changes

CLI::

    python -m aero_cpu.warm_start [--cache-dir DIR] [--seed 0] [--sft-steps N] [--measure-n 4]
    python -m aero_cpu.warm_start --measure MODEL_DIR PARQUET [--measure-n 4]   # e.g. a held-out split

Run it under ``flock /tmp/aero_heavy.lock`` when the machine is shared: it trains a model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from aero_cpu import synthetic_arith
from aero_cpu.synthetic_reward import compute_score

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "cpu_demo"
SPEC_FILE = "spec.json"


@dataclass(frozen=True)
class DemoAssetSpec:
    """Everything that determines the demo assets; any change rebuilds them.

    Attributes:
        seed: seeds the data, the model initialisation and the SFT data order.
        train_size: RL training prompts.
        eval_size: held-out validation prompts.
        mix: difficulty mix of both RL splits (``synthetic_arith.parse_mix`` syntax).
        sft_size: supervised (question, answer) pairs; eval problems are excluded.
        sft_mix: difficulty mix of the SFT data (mostly easy: hard levels stay unsolved).
        sft_sees_eval: whether the SFT data may contain the held-out problems. The warm start stands for
            pretraining, which has seen the facts the RL held-out set asks for; with noisy labels it still samples
            them unreliably, and only RL (which never sees the held-out prompts) can sharpen that.
        sft_label_accuracy: per level, the probability that an SFT label is right (else a slip, ``sft_slip``);
            ``""`` keeps every label exact. Noisy labels give a policy that knows
            the answers but samples slips, which RL can sharpen.
        sft_slip: what a wrong label is (``synthetic_arith.SLIPS``): ``restate`` (the question restated before the
            right number, one habit shared by every problem, so what RL corrects on training prompts carries to
            held-out ones) or ``near_miss`` (a different number per example: GRPO then memorised training answers
            without held-out gain, docs/results/cpu_grpo_transfer_2026-12-02). An unknown value is refused by
            ``synthetic_arith.sft_examples`` before the fine-tune starts.
        sft_steps: optimizer steps of the warm start.
        sft_batch_size: sequences per optimizer step.
        sft_lr: peak learning rate (linear warm-up then cosine decay).
        hidden_size: Qwen2 width.
        num_layers: Qwen2 decoder layers.
        intermediate_size: Qwen2 MLP width.
        num_attention_heads: attention heads.
        num_key_value_heads: KV heads.
        version: bump when the builder's output changes for the same parameters.
    """

    seed: int = 0
    train_size: int = 256
    eval_size: int = 64
    mix: str = synthetic_arith.DEFAULT_MIX
    sft_size: int = 6000
    sft_mix: str = "add1=0.25,mul1=0.25,add21=0.3,add2=0.2"
    sft_sees_eval: bool = True
    sft_label_accuracy: str = "add1=0.8,mul1=0.6,add21=0.5,add2=0.35"
    sft_slip: str = "restate"
    sft_steps: int = 1200
    sft_batch_size: int = 64
    sft_lr: float = 2e-3
    hidden_size: int = 128
    num_layers: int = 3
    intermediate_size: int = 384
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    version: int = 1

    def digest(self) -> str:
        """A short stable hash that names this spec in logs and in ``spec.json``."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DemoAssetPaths:
    """Absolute paths of one built asset set."""

    root: Path
    train_file: Path
    eval_file: Path
    model_dir: Path
    warm_start_file: Path
    initial_success_file: Path


def asset_paths(cache_dir: str | Path) -> DemoAssetPaths:
    """The fixed layout of a cache directory (see the module docstring)."""
    root = Path(cache_dir).resolve()
    return DemoAssetPaths(
        root=root,
        train_file=root / "data" / "train.parquet",
        eval_file=root / "data" / "test.parquet",
        model_dir=root / "model",
        warm_start_file=root / "warm_start.json",
        initial_success_file=root / "initial_success.json",
    )


def _render_messages(tokenizer, messages: list[dict]) -> str:
    """The exact prompt text verl's dataset builds: the chat template with the generation prompt."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _render_prompt(tokenizer, question: str) -> str:
    return _render_messages(tokenizer, [{"role": "user", "content": question}])


def encode_sft_example(tokenizer, question: str, answer: str) -> dict[str, list[int]]:
    """Token ids and labels for one SFT pair; only the answer and ``<|im_end|>`` are trained on."""
    prompt_ids = tokenizer(_render_prompt(tokenizer, question), add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    return {
        "input_ids": prompt_ids + answer_ids,
        "labels": [-100] * len(prompt_ids) + answer_ids,
    }


class _PadCollator:
    """Right-pads ``input_ids`` (pad id) and ``labels`` (-100) and builds the attention mask."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids, labels, mask = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [self.pad_id] * pad)
            labels.append(f["labels"] + [-100] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def warm_start(model_dir: Path, tokenizer, pairs: list[tuple[str, str]], spec: DemoAssetSpec) -> dict:
    """Builds a random tiny Qwen2 and fine-tunes it on ``pairs`` with ``transformers.Trainer``.

    Returns:
        ``{"train_loss", "final_loss", "wall_clock_s", "num_parameters", "steps", "model_sha256"}``. The build is
        bitwise reproducible on one machine but not across CPU types (the rounding of vectorised kernels differs and
        1,200 SFT steps amplify it), so ``model_sha256`` tells whether two machines' runs started from one model.
    """
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    from aero_cpu.tiny_assets import build_tiny_qwen2

    build_tiny_qwen2(
        model_dir,
        tokenizer,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        intermediate_size=spec.intermediate_size,
        seed=spec.seed,
    )
    torch.manual_seed(spec.seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    dataset = [encode_sft_example(tokenizer, q, a) for q, a in pairs]
    with tempfile.TemporaryDirectory(prefix="aero_warm_start_") as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            max_steps=spec.sft_steps,
            per_device_train_batch_size=spec.sft_batch_size,
            learning_rate=spec.sft_lr,
            lr_scheduler_type="cosine",
            warmup_steps=max(1, spec.sft_steps // 20),
            weight_decay=0.0,
            logging_steps=max(1, spec.sft_steps // 10),
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            seed=spec.seed,
            data_seed=spec.seed,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model, args=args, train_dataset=dataset, data_collator=_PadCollator(tokenizer.pad_token_id)
        )
        start = time.perf_counter()
        result = trainer.train()
        wall = time.perf_counter() - start
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return {
        "train_loss": float(result.training_loss),
        "final_loss": float(losses[-1]) if losses else None,
        "wall_clock_s": round(wall, 2),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "steps": spec.sft_steps,
        "model_sha256": hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest(),
    }


def measure_initial_success(
    model_dir: str | Path,
    parquet: str | Path,
    n: int = 4,
    temperature: float = 1.0,
    max_new_tokens: int = 16,
    batch_prompts: int = 64,
    limit: int | None = None,
    seed: int = 0,
) -> dict:
    """Samples ``n`` responses per prompt with HF ``generate`` and reports how success is spread.

    Sampling matches verl's rollout defaults for training (temperature 1, top_p 1, no top_k), and success is
    the reward's ``acc``. This is the statistic AERO depends on: the share of prompts at 0 of n (rescue),
    strictly between (mixed) and n of n (all correct).

    Args:
        model_dir: a ``save_pretrained`` directory with the tokenizer.
        parquet: verl-schema parquet (``prompt``, ``reward_model.ground_truth``, ``extra_info.difficulty``).
        n: samples per prompt.
        temperature: sampling temperature.
        max_new_tokens: response length cap (the demo's ``data.max_response_length``).
        batch_prompts: prompts per ``generate`` call.
        limit: only the first ``limit`` prompts (``None`` = all).
        seed: torch seed for sampling.

    With many samples (``--measure-n 64``) it also says how much RL *could* gain by sharpening alone:
    ``modal_acc`` is the accuracy of a policy that always gave each prompt's most sampled answer.

    Returns:
        ``{"n", "num_prompts", "share_zero", "share_mixed", "share_all", "mean_acc", "modal_acc",
        "by_difficulty": {...}}``.
    """
    import pandas as pd
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    frame = pd.read_parquet(parquet)
    if limit is not None:
        frame = frame.head(limit)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    torch.manual_seed(seed)
    correct_counts, modal_correct, difficulties = [], [], []
    for start in range(0, len(frame), batch_prompts):
        chunk = frame.iloc[start : start + batch_prompts]
        texts = [_render_messages(tokenizer, list(messages)) for messages in chunk["prompt"]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                top_p=1.0,
                top_k=0,
                max_new_tokens=max_new_tokens,
                num_return_sequences=n,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        responses = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for i, (_, row) in enumerate(chunk.iterrows()):
            truth = row["reward_model"]["ground_truth"]
            own = responses[i * n : (i + 1) * n]
            accs = [compute_score(row["data_source"], r, truth)["acc"] for r in own]
            correct_counts.append(int(sum(accs)))
            wrong = Counter(r.strip() for r, acc in zip(own, accs, strict=True) if not acc)
            modal_correct.append(sum(accs) > max(wrong.values(), default=0))
            difficulties.append(row["extra_info"]["difficulty"])
    return summarize_success(correct_counts, difficulties, n, modal_correct)


def summarize_success(
    correct_counts: list[int], difficulties: list[str], n: int, modal_correct: list[bool] | None = None
) -> dict:
    """Shares of prompts at 0 of n, mixed and n of n, overall and per difficulty level.

    Args:
        correct_counts: correct samples per prompt.
        difficulties: each prompt's level.
        n: samples per prompt.
        modal_correct: per prompt, whether the right answer was sampled strictly more often than any single wrong
            one (a tie counts as wrong). Its share, ``modal_acc``, is the ceiling of pure sharpening: what Avg@n
            would become if RL only moved each prompt's probability onto its most likely answer.
    """

    def shares(rows: list[tuple[int, bool | None]]) -> dict:
        total = max(len(rows), 1)
        counts = [count for count, _ in rows]
        summary = {
            "num_prompts": len(rows),
            "share_zero": round(sum(c == 0 for c in counts) / total, 4),
            "share_mixed": round(sum(0 < c < n for c in counts) / total, 4),
            "share_all": round(sum(c == n for c in counts) / total, 4),
            "mean_acc": round(sum(counts) / (total * n), 4),
        }
        if modal_correct is not None:
            summary["modal_acc"] = round(sum(bool(hit) for _, hit in rows) / total, 4)
        return summary

    hits = modal_correct if modal_correct is not None else [None] * len(correct_counts)
    rows = list(zip(correct_counts, hits, strict=True))
    by_level: dict[str, list[tuple[int, bool | None]]] = {}
    for row, level in zip(rows, difficulties, strict=True):
        by_level.setdefault(level, []).append(row)
    return {"n": n, **shares(rows), "by_difficulty": {k: shares(v) for k, v in sorted(by_level.items())}}


def is_up_to_date(cache_dir: str | Path, spec: DemoAssetSpec, measure_n: int = 4) -> bool:
    """Whether ``cache_dir`` holds assets built from ``spec`` (so a build would do nothing)."""
    spec_path = asset_paths(cache_dir).root / SPEC_FILE
    return spec_path.exists() and json.loads(spec_path.read_text()) == _spec_record(spec, measure_n)


def _spec_record(spec: DemoAssetSpec, measure_n: int) -> dict:
    return {"digest": spec.digest(), "measure_n": measure_n, **asdict(spec)}


def build_demo_assets(
    cache_dir: str | Path | None = None, spec: DemoAssetSpec | None = None, measure_n: int = 4
) -> DemoAssetPaths:
    """Builds data, warm-started model and the initial-success measurement unless already built with ``spec``.

    ``spec.json`` is written last, so an interrupted build is redone from scratch on the next call.

    Args:
        cache_dir: output directory (default ``<repo>/.cache/cpu_demo``).
        spec: what to build (default ``DemoAssetSpec()``).
        measure_n: samples per prompt for :func:`measure_initial_success` (0 skips the measurement).

    Returns:
        The asset paths.
    """
    from aero_cpu.tiny_assets import build_tokenizer

    spec = spec or DemoAssetSpec()
    paths = asset_paths(cache_dir or DEFAULT_CACHE_DIR)
    spec_path = paths.root / SPEC_FILE
    wanted = _spec_record(spec, measure_n)
    if is_up_to_date(paths.root, spec, measure_n):
        logger.info("demo assets in %s are up to date (spec %s)", paths.root, wanted["digest"])
        return paths
    paths.root.mkdir(parents=True, exist_ok=True)
    spec_path.unlink(missing_ok=True)

    splits = synthetic_arith.generate_splits(
        spec.train_size, spec.eval_size, synthetic_arith.parse_mix(spec.mix), seed=spec.seed
    )
    synthetic_arith.write_splits(splits, paths.train_file.parent)
    pairs = synthetic_arith.sft_examples(
        spec.sft_size,
        synthetic_arith.parse_mix(spec.sft_mix),
        exclude=[] if spec.sft_sees_eval else splits["test"],
        seed=spec.seed,
        label_accuracy=synthetic_arith.parse_label_accuracy(spec.sft_label_accuracy),
        slip=spec.sft_slip,
    )
    tokenizer = build_tokenizer(paths.root / "tokenizer")
    stats = warm_start(paths.model_dir, tokenizer, pairs, spec)
    paths.warm_start_file.write_text(json.dumps(stats, indent=1))
    logger.info("warm start: %s", stats)
    if measure_n > 0:
        start = time.perf_counter()
        success = measure_initial_success(paths.model_dir, paths.train_file, n=measure_n, seed=spec.seed)
        success["wall_clock_s"] = round(time.perf_counter() - start, 2)
        paths.initial_success_file.write_text(json.dumps(success, indent=1))
    spec_path.write_text(json.dumps(wanted, indent=1, sort_keys=True))
    return paths


def main(argv: list[str] | None = None) -> None:
    """CLI: builds (or reuses) the assets and prints their paths, the warm-start stats and the success spread."""
    parser = argparse.ArgumentParser(description="Synthetic data + warm-started tiny Qwen2 for the CPU demo.")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR), help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=DemoAssetSpec.seed)
    parser.add_argument("--sft-steps", type=int, default=None, help="override the spec's SFT steps")
    parser.add_argument("--sft-slip", choices=synthetic_arith.SLIPS, default=DemoAssetSpec.sft_slip)
    parser.add_argument("--measure-n", type=int, default=4, help="samples per prompt for the success spread")
    parser.add_argument("--check", action="store_true", help="build nothing; exit 0 if up to date, else 1")
    parser.add_argument(
        "--measure", nargs=2, metavar=("MODEL_DIR", "PARQUET"), help="build nothing; print the success spread"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spec = DemoAssetSpec(seed=args.seed, sft_slip=args.sft_slip)
    if args.sft_steps is not None:
        spec = replace(spec, sft_steps=args.sft_steps)
    if args.check:
        raise SystemExit(0 if is_up_to_date(args.cache_dir, spec, args.measure_n) else 1)
    if args.measure:
        print(json.dumps(measure_initial_success(*args.measure, n=args.measure_n, seed=args.seed), indent=1))
        return
    paths = build_demo_assets(args.cache_dir, spec, measure_n=args.measure_n)
    result = {k: str(v) for k, v in asdict(paths).items()}
    result["warm_start"] = json.loads(paths.warm_start_file.read_text())
    if paths.initial_success_file.exists():
        result["initial_success"] = json.loads(paths.initial_success_file.read_text())
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
