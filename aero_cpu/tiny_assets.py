"""Builds the tiny, random-weight assets that let the real verl trainer run on a CPU in seconds.

Nothing here can be downloaded (no model or dataset hub), so every test and CPU demo builds its own model,
tokenizer, data and reward function locally. The assets are written once into a cache directory and reused:
``build_all`` skips the work when the directory already holds assets built from the same spec.

Why these particular choices (see ``/work/shared/cpu_e2e_notes.md`` §5):

* The tokenizer is byte-level BPE with an empty merge list, i.e. one token per byte. transformers 5.x
  rebuilds the tokenizer of a ``qwen2`` model directory as ``Qwen2Tokenizer`` (byte-level pre-tokenizer),
  and verl's ``QwenContinuousTokenBuilder`` needs ``"\\n"`` to be exactly one token and ``<|im_end|>`` to
  exist. A byte-level vocabulary satisfies both; a WordLevel char vocabulary does not.
* The model is a two-layer Qwen2 (about 90k parameters) so an FSDP2 update takes ~0.1 s on one core. Its head
  dimension is 32 (2 heads of width 64): vLLM's CPU attention supports head sizes 32, 64, 80, ... only
  (``vllm.v1.attention.backends.cpu_attn.CPUAttentionBackend.get_supported_head_sizes``); 16 fails at the first
  request with "Unsupported CPU attention configuration".
* The reward is dense (fraction of digit characters) so rewards vary within a group even for a random
  model, which gives non-zero GRPO advantages and gradients.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
PAD_TOKEN, _, EOS_TOKEN = SPECIAL_TOKENS
DATA_SOURCE = "openai/gsm8k"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "tiny_assets"
SPEC_FILE = "tiny_assets_spec.json"

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

REWARD_FN_SOURCE = '''"""Dense toy reward for CPU tests: the fraction of digit characters in the response.

A random model almost never answers a math question, so an exact-match reward would be 0 for every
rollout, every GRPO advantage 0 and every gradient 0. This reward varies within a group.
"""


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """Returns {"score": fraction of digits, "acc": whether the ground truth appears in the response}."""
    text = solution_str or ""
    digits = sum(ch.isdigit() for ch in text)
    score = digits / max(len(text), 1)
    return {"score": float(score), "acc": float(str(ground_truth) in text)}
'''


@dataclass(frozen=True)
class TinyAssetSpec:
    """Everything that determines the built assets; a change rebuilds them.

    Attributes:
        hidden_size: Qwen2 hidden size.
        num_layers: Qwen2 decoder layers.
        num_attention_heads: attention heads; ``hidden_size / num_attention_heads`` must be a head size vLLM's
            CPU attention supports (32, 64, ...).
        num_train_rows: rows in ``data/train.parquet``.
        num_val_rows: rows in ``data/val.parquet``.
        seed: seed of the model weights and the arithmetic questions.
        version: bump when the builder's output changes for the same parameters.
    """

    hidden_size: int = 64
    num_layers: int = 2
    num_attention_heads: int = 2
    num_train_rows: int = 64
    num_val_rows: int = 8
    seed: int = 0
    version: int = 4

    def digest(self) -> str:
        """A short stable hash used to decide whether a cache directory is up to date."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TinyAssetPaths:
    """Paths of one built asset set (all absolute).

    Attributes:
        root: the cache directory.
        model_dir: HF model directory (config, safetensors, tokenizer files).
        tokenizer_dir: the tokenizer alone (same files as in ``model_dir``).
        train_file: verl-schema parquet with the training prompts.
        val_file: verl-schema parquet with the validation prompts.
        reward_fn_file: python file defining ``compute_score`` (``reward.custom_reward_function.path``).
    """

    root: Path
    model_dir: Path
    tokenizer_dir: Path
    train_file: Path
    val_file: Path
    reward_fn_file: Path


def build_tokenizer(out_dir: str | Path):
    """Builds and saves the byte-level character tokenizer with a ChatML chat template.

    Args:
        out_dir: directory to ``save_pretrained`` into (created if missing).

    Returns:
        The ``PreTrainedTokenizerFast`` (259 tokens: 3 specials + 256 byte characters).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in alphabet:
        vocab[ch] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)
    tokenizer.chat_template = CHATML_TEMPLATE
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    return tokenizer


def build_tiny_qwen2(
    out_dir: str | Path,
    tokenizer,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_attention_heads: int = 2,
    num_key_value_heads: int = 1,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> Path:
    """Builds a random-weight Qwen2 causal LM sized for CPU tests and saves it with the tokenizer.

    Args:
        out_dir: model directory to write (config.json, model.safetensors, generation_config.json, tokenizer).
        tokenizer: the tokenizer from :func:`build_tokenizer`; its eos/pad ids go into the configs.
        hidden_size: model width.
        num_layers: decoder layers.
        num_attention_heads: attention heads (must divide ``hidden_size``).
        num_key_value_heads: KV heads (GQA; must divide ``num_attention_heads``).
        intermediate_size: MLP width; defaults to ``2 * hidden_size``.
        max_position_embeddings: longest sequence the rotary embedding is configured for.
        seed: torch seed for the random weights.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ValueError: if the head counts do not divide as Qwen2 requires.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if hidden_size % num_attention_heads or num_attention_heads % num_key_value_heads:
        raise ValueError(
            f"hidden_size={hidden_size} must be divisible by num_attention_heads={num_attention_heads}, "
            f"which must be divisible by num_key_value_heads={num_key_value_heads}"
        )
    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    # Exactly the tokenizer's size, not padded like real checkpoints: verl's vLLM server masks logits beyond
    # len(tokenizer) (vllm_rollout.utils.monkey_patch_compute_logits), the trainer does not, and a random model puts
    # ~20 % of its mass on padding rows, which would hide weight-sync errors in rollout-vs-trainer log-probs.
    vocab_size = len(tokenizer)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _question_rows(n: int, split: str, seed: int) -> list[dict]:
    """Arithmetic questions in verl's gsm8k parquet schema with a unique ``extra_info.index`` per row.

    The questions of one split are distinct too, so a prompt's token ids identify its row (the vLLM request-log
    test groups engine requests by prompt).

    Raises:
        ValueError: for more rows than distinct one-digit additions (81).
    """
    import random

    pairs = [(a, b) for a in range(1, 10) for b in range(1, 10)]
    if n > len(pairs):
        raise ValueError(f"at most {len(pairs)} distinct tiny questions per split, asked for {n}")
    rng = random.Random(f"{seed}-{split}")
    rows = []
    for i, (a, b) in enumerate(rng.sample(pairs, n)):
        rows.append(
            {
                "data_source": DATA_SOURCE,
                "prompt": [{"role": "user", "content": f"{a}+{b}="}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                "extra_info": {"split": split, "index": i},
            }
        )
    return rows


def _write_parquet(rows: list[dict], path: Path) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


def _paths(root: Path) -> TinyAssetPaths:
    return TinyAssetPaths(
        root=root,
        model_dir=root / "tiny_qwen2",
        tokenizer_dir=root / "tokenizer",
        train_file=root / "data" / "train.parquet",
        val_file=root / "data" / "val.parquet",
        reward_fn_file=root / "reward_fn.py",
    )


def build_all(cache_dir: str | Path | None = None, spec: TinyAssetSpec | None = None) -> TinyAssetPaths:
    """Builds tokenizer, model, train/val parquet and reward file, unless already built with the same spec.

    The spec file is written last, so an interrupted build is redone on the next call.

    Args:
        cache_dir: output directory; defaults to ``<repo>/.cache/tiny_assets``.
        spec: what to build; defaults to ``TinyAssetSpec()``.

    Returns:
        The absolute paths of the built assets.
    """
    spec = spec or TinyAssetSpec()
    root = Path(cache_dir or DEFAULT_CACHE_DIR).resolve()
    paths = _paths(root)
    spec_path = root / SPEC_FILE
    wanted = {"digest": spec.digest(), **asdict(spec)}
    if spec_path.exists() and json.loads(spec_path.read_text()) == wanted:
        logger.info("tiny assets in %s are up to date (spec %s)", root, wanted["digest"])
        return paths
    root.mkdir(parents=True, exist_ok=True)
    if spec_path.exists():
        spec_path.unlink()
    tokenizer = build_tokenizer(paths.tokenizer_dir)
    build_tiny_qwen2(
        paths.model_dir,
        tokenizer,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        num_attention_heads=spec.num_attention_heads,
        seed=spec.seed,
    )
    _write_parquet(_question_rows(spec.num_train_rows, "train", spec.seed), paths.train_file)
    _write_parquet(_question_rows(spec.num_val_rows, "test", spec.seed), paths.val_file)
    paths.reward_fn_file.write_text(REWARD_FN_SOURCE)
    spec_path.write_text(json.dumps(wanted, indent=1, sort_keys=True))
    logger.info("built tiny assets in %s (spec %s)", root, wanted["digest"])
    return paths


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m aero_cpu.tiny_assets --out DIR`` prints the built paths as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_CACHE_DIR), help="cache directory (default: %(default)s)")
    parser.add_argument("--hidden-size", type=int, default=TinyAssetSpec.hidden_size)
    parser.add_argument("--num-layers", type=int, default=TinyAssetSpec.num_layers)
    parser.add_argument("--num-attention-heads", type=int, default=TinyAssetSpec.num_attention_heads)
    parser.add_argument("--num-train-rows", type=int, default=TinyAssetSpec.num_train_rows)
    parser.add_argument("--num-val-rows", type=int, default=TinyAssetSpec.num_val_rows)
    parser.add_argument("--seed", type=int, default=TinyAssetSpec.seed)
    args = parser.parse_args(argv)
    spec = TinyAssetSpec(
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        num_attention_heads=args.num_attention_heads,
        num_train_rows=args.num_train_rows,
        num_val_rows=args.num_val_rows,
        seed=args.seed,
    )
    paths = build_all(args.out, spec)
    print(json.dumps({k: str(v) for k, v in asdict(paths).items()}, indent=1))


if __name__ == "__main__":
    main()
