"""Synthetic verifiable arithmetic task for the CPU reproduction, written as verl parquet.

Why a synthetic task: the CPU demo cannot download a model or a math dataset, and a tiny model trained for a
couple of minutes must still show what AERO exploits in real math RLVR: many prompts the policy never solves
(all-wrong groups), some it always solves (all-correct groups) and a band in between. Integer arithmetic
with a controllable number of digits gives exactly that knob, and its answers are verified by exact match.

Every prompt is short (``"123+456="`` is 27 tokens once wrapped in the ChatML template by the byte-level
tokenizer; the longest level, ``add4``, gives 29) and the answer is just the number followed by ``<|im_end|>``.

Rows follow verl's RLHF dataset schema exactly::

    data_source  "synthetic_arith"
    prompt       [{"role": "user", "content": "12+34="}]
    ability      "arithmetic"
    reward_model {"style": "rule", "ground_truth": "46"}
    extra_info   {"split": "train"|"test", "index": i, "difficulty": "add2", "question": "12+34=", "answer": "46"}

``extra_info.index`` is unique within a split (it is the row number), the eval split never repeats a training
problem, and a split never repeats a problem. The output is a pure function of the arguments.

CLI::

    python -m aero_cpu.synthetic_arith --out DIR [--train-size 1024] [--eval-size 128] [--seed 0]
        [--mix add1=0.1,mul1=0.1,add21=0.25,add2=0.25,add3=0.3] [--eval-mix ...]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

DATA_SOURCE = "synthetic_arith"
ABILITY = "arithmetic"


@dataclass(frozen=True)
class Level:
    """One difficulty level: ``a op b`` with ``a`` and ``b`` drawn uniformly from inclusive ranges.

    Attributes:
        op: ``"+"`` or ``"*"``.
        a_range: inclusive (low, high) of the left operand.
        b_range: inclusive (low, high) of the right operand.
    """

    op: str
    a_range: tuple[int, int]
    b_range: tuple[int, int]

    @property
    def space(self) -> int:
        """How many distinct problems the level has (the cap on rows drawn from it)."""
        return (self.a_range[1] - self.a_range[0] + 1) * (self.b_range[1] - self.b_range[0] + 1)

    def answer(self, a: int, b: int) -> int:
        """The exact result, the ground truth."""
        return a + b if self.op == "+" else a * b


# Names say the operation and the operand size, so a mix string reads as what it is.
LEVELS: dict[str, Level] = {
    "add1": Level("+", (0, 9), (0, 9)),
    "add21": Level("+", (10, 99), (0, 9)),
    "add2": Level("+", (10, 99), (10, 99)),
    "add3": Level("+", (100, 999), (100, 999)),
    "add4": Level("+", (1000, 9999), (1000, 9999)),
    "mul1": Level("*", (0, 9), (0, 9)),
    "mul2": Level("*", (10, 99), (2, 9)),
    "mul3": Level("*", (10, 99), (10, 99)),
}

DEFAULT_MIX = "add1=0.1,mul1=0.1,add21=0.25,add2=0.25,add3=0.3"


def parse_level_values(text: str, what: str = "mix", unit: str = "weight") -> dict[str, float]:
    """Parses ``"add1=0.2,add2=0.8"`` into ``{level: value}`` (unnormalised, non-negative, each level once).

    Args:
        text: comma-separated ``level=value`` pairs.
        what: what the text is, for error messages (``"mix"``, ``"label accuracy"``).
        unit: what each value is, for error messages.

    Raises:
        ValueError: on an unknown level, a duplicate, a negative or non-numeric value.
    """
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{what} entry {item!r} must look like level={unit} (e.g. add2=0.5)")
        if name not in LEVELS:
            raise ValueError(f"unknown difficulty level {name!r} in {what} {text!r}; known: {sorted(LEVELS)}")
        if name in values:
            raise ValueError(f"difficulty level {name!r} appears twice in {what} {text!r}")
        try:
            number = float(value)
        except ValueError as err:
            raise ValueError(f"value of {name!r} in {what} {text!r} is not a number: {value!r}") from err
        if number < 0:
            raise ValueError(f"value of {name!r} in {what} {text!r} is negative: {number}")
        values[name] = number
    return values


def parse_mix(text: str) -> dict[str, float]:
    """Parses ``"add1=0.2,add2=0.8"`` into normalised shares.

    Args:
        text: comma-separated ``level=weight`` pairs; weights are relative (normalised to sum 1).

    Returns:
        ``{level: share}`` in the order given.

    Raises:
        ValueError: on an unknown level, a duplicate, a negative or non-numeric weight, or all-zero weights.
    """
    weights = parse_level_values(text, "mix")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"mix {text!r} has no positive weight")
    return {name: weight / total for name, weight in weights.items()}


def parse_label_accuracy(text: str) -> dict[str, float]:
    """Parses ``"add1=0.8,add2=0.4"``: per level, the probability that a warm-start label is the right answer.

    Raises:
        ValueError: as :func:`parse_level_values`, or for a probability above 1.
    """
    accuracy = parse_level_values(text, "label accuracy", "probability")
    over = {name: value for name, value in accuracy.items() if value > 1}
    if over:
        raise ValueError(f"label accuracy {text!r} has probabilities above 1: {over}")
    return accuracy


def near_miss(answer: int, rng: random.Random) -> int:
    """A wrong answer that differs from ``answer`` by 1 or 2 (never negative): a slip in the last digit or carry."""
    offsets = [d for d in (-2, -1, 1, 2) if answer + d >= 0]
    return answer + rng.choice(offsets)


# How a wrong warm-start label is wrong. ``near_miss``: a different number, drawn per example, so the slips of one
# problem share nothing with another's. ``restate``: the right number after the restated question ("12+34=46"),
# which the exact-match reward rejects; one habit shared by every problem, like a real model's format slips.
SLIPS = ("near_miss", "restate")


def allocate_counts(mix: dict[str, float], size: int) -> dict[str, int]:
    """Splits ``size`` rows over the levels by largest remainder, so the counts sum to ``size`` exactly.

    Ties in the remainder go to the level listed first, which keeps the result deterministic.
    """
    exact = {name: share * size for name, share in mix.items()}
    counts = {name: int(value) for name, value in exact.items()}
    missing = size - sum(counts.values())
    by_remainder = sorted(mix, key=lambda name: -(exact[name] - counts[name]))
    for name in by_remainder[:missing]:
        counts[name] += 1
    return counts


def _draw_unique(level_name: str, count: int, rng: random.Random, taken: set[tuple[str, int, int]]) -> list:
    """Draws ``count`` problems of one level that are not in ``taken`` (and adds them to it)."""
    level = LEVELS[level_name]
    free = level.space - sum(1 for key in taken if key[0] == level_name)
    if count > free:
        raise ValueError(
            f"difficulty level {level_name!r} has only {free} unused distinct problems but {count} were requested; "
            "lower the split size or the level's share in the mix"
        )
    problems = []
    while len(problems) < count:
        a, b = rng.randint(*level.a_range), rng.randint(*level.b_range)
        key = (level_name, a, b)
        if key in taken:
            continue
        taken.add(key)
        problems.append(key)
    return problems


def _row(level_name: str, a: int, b: int, split: str, index: int) -> dict:
    level = LEVELS[level_name]
    question = f"{a}{level.op}{b}="
    answer = str(level.answer(a, b))
    return {
        "data_source": DATA_SOURCE,
        "prompt": [{"role": "user", "content": question}],
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {
            "split": split,
            "index": index,
            "difficulty": level_name,
            "question": question,
            "answer": answer,
        },
    }


def generate_splits(
    train_size: int, eval_size: int, mix: dict[str, float], eval_mix: dict[str, float] | None = None, seed: int = 0
) -> dict[str, list[dict]]:
    """Generates the train and held-out eval rows.

    The eval split is drawn first, so growing the train split never changes the eval problems.

    Args:
        train_size: rows in the train split.
        eval_size: rows in the eval split.
        mix: ``{level: share}`` for the train split (see :func:`parse_mix`).
        eval_mix: the same for the eval split; defaults to ``mix``.
        seed: the only source of randomness.

    Returns:
        ``{"train": rows, "test": rows}``, each shuffled (difficulties interleaved) and indexed 0..n-1.
    """
    if train_size < 0 or eval_size < 0:
        raise ValueError(f"split sizes must be >= 0, got train_size={train_size}, eval_size={eval_size}")
    taken: set[tuple[str, int, int]] = set()
    splits = {}
    for split, size, split_mix in (("test", eval_size, eval_mix or mix), ("train", train_size, mix)):
        rng = random.Random(f"synthetic_arith-{seed}-{split}")
        problems = []
        for level_name, count in allocate_counts(split_mix, size).items():
            problems.extend(_draw_unique(level_name, count, rng, taken))
        rng.shuffle(problems)
        splits[split] = [_row(name, a, b, split, i) for i, (name, a, b) in enumerate(problems)]
    return splits


def sft_examples(
    size: int,
    mix: dict[str, float],
    exclude: list[dict],
    seed: int,
    label_accuracy: dict[str, float] | None = None,
    slip: str = "near_miss",
) -> list[tuple[str, str]]:
    """(question, answer) pairs for the warm start, drawn with replacement but never from ``exclude``.

    Pass the eval rows as ``exclude`` so that the held-out set stays held out; train-split problems may
    reappear (the warm-started policy then solves some RL prompts, as a real SFT model does). Repeats are
    allowed because the easiest levels have fewer distinct problems than an SFT set needs.

    With ``label_accuracy``, a level's label is the right answer only with that probability and otherwise a slip
    (``slip``, one of :data:`SLIPS`: a :func:`near_miss`, or the question restated before the right answer). The
    warm-started policy then knows how to compute a level's answers but samples a slip with about the labels' error
    rate: the "knows but is unreliable" start that RL with verifiable rewards sharpens (levels absent from it keep
    exact labels).

    Raises:
        ValueError: on an unknown ``slip``, or a level whose every problem is excluded.
    """
    if slip not in SLIPS:
        raise ValueError(f"unknown label slip {slip!r}; known: {list(SLIPS)}")
    excluded = {(row["extra_info"]["difficulty"], *_operands(row)) for row in exclude}
    accuracy = label_accuracy or {}
    rng = random.Random(f"synthetic_arith-sft-{seed}")
    noise = random.Random(f"synthetic_arith-sft-labels-{seed}")
    pairs = []
    for level_name, count in allocate_counts(mix, size).items():
        level = LEVELS[level_name]
        if count and level.space <= sum(1 for key in excluded if key[0] == level_name):
            raise ValueError(f"every problem of level {level_name!r} is in the excluded (eval) rows")
        drawn = 0
        while drawn < count:
            a, b = rng.randint(*level.a_range), rng.randint(*level.b_range)
            if (level_name, a, b) in excluded:
                continue
            question, answer = f"{a}{level.op}{b}=", level.answer(a, b)
            label = str(answer)
            if noise.random() >= accuracy.get(level_name, 1.0):
                label = str(near_miss(answer, noise)) if slip == "near_miss" else question + label
            pairs.append((question, label))
            drawn += 1
    rng.shuffle(pairs)
    return pairs


def _operands(row: dict) -> tuple[int, int]:
    question = row["extra_info"]["question"].rstrip("=")
    op = LEVELS[row["extra_info"]["difficulty"]].op
    a, b = question.split(op)
    return int(a), int(b)


def write_splits(splits: dict[str, list[dict]], out_dir: str | Path) -> dict[str, Path]:
    """Writes ``train.parquet`` and ``test.parquet`` into ``out_dir`` and returns their paths."""
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, rows in splits.items():
        path = out / f"{split}.parquet"
        pd.DataFrame(rows).to_parquet(path)
        paths[split] = path
    return paths


def main(argv: list[str] | None = None) -> None:
    """CLI entry point; prints the written paths and per-split difficulty counts as JSON."""
    parser = argparse.ArgumentParser(description="Synthetic arithmetic task -> verl parquet (train + test).")
    parser.add_argument("--out", required=True, help="output directory for train.parquet and test.parquet")
    parser.add_argument("--train-size", type=int, default=1024)
    parser.add_argument("--eval-size", type=int, default=128)
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"level=weight,... (levels: {','.join(LEVELS)})")
    parser.add_argument("--eval-mix", default=None, help="mix of the eval split (default: --mix)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    mix = parse_mix(args.mix)
    eval_mix = parse_mix(args.eval_mix) if args.eval_mix else None
    splits = generate_splits(args.train_size, args.eval_size, mix, eval_mix, args.seed)
    paths = write_splits(splits, args.out)
    summary = {
        split: {
            "path": str(paths[split]),
            "counts": allocate_counts(eval_mix or mix if split == "test" else mix, len(rows)),
        }
        for split, rows in splits.items()
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
