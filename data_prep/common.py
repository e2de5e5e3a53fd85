"""Shared conversion of HF math datasets to verl parquet: one template, one row schema, one bad-row report.

Every per-dataset script only says where its problem and answer live (a :class:`DatasetSpec`); loading, the prompt
template, row building, de-duplication, ids and writing are here, so train and eval sets cannot drift apart.

Row schema (verl ``RLHFDataset``): ``data_source``, ``prompt`` (chat messages), ``ability``,
``reward_model {style, ground_truth}``, ``extra_info {split, index, source_id, problem}``. ``extra_info.index`` is
the row's position in the written file (0..N-1, stable for the same input): AERO keys its per-prompt posterior by
``data_source/index``, and verl falls back to 0 when the index is missing, which would merge all prompts.
"""

import argparse
import collections
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# verl's MATH instruction (examples/data_preprocess/math_dataset.py); the reward reads the last \boxed{}.
BOXED_INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."
QWEN_MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

TEMPLATES: dict[str, Callable[[str], list[dict[str, str]]]] = {
    # Default for every AERO run (train and eval): one user turn, question + verl's boxed instruction.
    "boxed": lambda problem: [{"role": "user", "content": f"{problem} {BOXED_INSTRUCTION}"}],
    # Qwen2.5-Math evaluation harness ("qwen-boxed"): explicit system turn replaces Qwen's default one.
    "qwen_boxed": lambda problem: [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": f"{problem}\n{QWEN_MATH_INSTRUCTION}"},
    ],
}


class BadRow(ValueError):
    """Raised by a dataset's field accessors for a row that cannot become a training/eval example."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where one HF dataset keeps its problem and answer, and what the converted rows are called.

    Attributes:
        data_source: ``data_source`` written into every row; also the output file stem.
        hf_id: HF hub id loaded by default.
        hf_split: HF split to convert.
        get_problem: Row -> problem text; raises :class:`BadRow` when absent.
        get_answer: Row -> reference answer string; raises :class:`BadRow` when absent.
        hf_config: HF config name, if the dataset has several.
        get_source_id: Row -> the dataset's own id (kept for traceability), or "".
        dedupe: Keep only the first row of each problem text (DAPO-Math-17k repeats each problem ~100 times).
    """

    data_source: str
    hf_id: str
    hf_split: str
    get_problem: Callable[[Mapping[str, Any]], str]
    get_answer: Callable[[Mapping[str, Any]], str]
    hf_config: str | None = None
    get_source_id: Callable[[Mapping[str, Any]], str] = lambda row: ""
    dedupe: bool = False


@dataclass
class ConversionReport:
    """What happened to the input rows; skipped rows are counted by reason, never dropped silently."""

    data_source: str
    rows_in: int = 0
    rows_out: int = 0
    duplicates: int = 0
    skipped: collections.Counter = field(default_factory=collections.Counter)
    first_skipped_rows: dict[str, list[int]] = field(default_factory=dict)

    def skip(self, row_number: int, reason: str) -> None:
        """Counts one skipped row under ``reason`` and remembers the first few row numbers for the message."""
        self.skipped[reason] += 1
        examples = self.first_skipped_rows.setdefault(reason, [])
        if len(examples) < 5:
            examples.append(row_number)

    def summary(self) -> str:
        """One line: rows in/out, duplicates removed and skipped rows per reason (with example row numbers)."""
        skipped = ", ".join(
            f"{reason}: {count} (rows {self.first_skipped_rows[reason]})"
            for reason, count in sorted(self.skipped.items())
        )
        return (
            f"{self.data_source}: {self.rows_in} rows in, {self.rows_out} written, {self.duplicates} duplicates "
            f"removed, {sum(self.skipped.values())} skipped" + (f" [{skipped}]" if skipped else "")
        )


def require_text(row: Mapping[str, Any], key: str, what: str) -> str:
    """Returns ``row[key]`` as stripped text; raises :class:`BadRow` ("missing <what>") when absent or empty."""
    value = row.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # numeric answers (AMC) stored as floats: 27.0 -> "27"
    text = "" if value is None else str(value).strip()
    if not text:
        raise BadRow(f"missing {what}")
    return text


def columns_spec(
    data_source: str, hf_id: str, hf_split: str, problem_key: str, answer_key: str, id_key: str | None = None
) -> DatasetSpec:
    """A :class:`DatasetSpec` for the common layout "problem in one column, final answer in another"."""
    return DatasetSpec(
        data_source=data_source,
        hf_id=hf_id,
        hf_split=hf_split,
        get_problem=lambda row: require_text(row, problem_key, "problem"),
        get_answer=lambda row: require_text(row, answer_key, "answer"),
        get_source_id=(lambda row: row.get(id_key, "")) if id_key else (lambda row: ""),
    )


def convert_rows(rows: Iterable[Mapping[str, Any]], spec: DatasetSpec, template: str, split: str):
    """Turns HF rows into verl rows with the given template.

    Args:
        rows: Rows in the dataset's HF layout.
        spec: The dataset's field accessors and names.
        template: Key of :data:`TEMPLATES`.
        split: Written to ``extra_info.split`` ("train" or "test").

    Returns:
        ``(records, report)``: the verl rows in input order and the :class:`ConversionReport`.
    """
    build_prompt = TEMPLATES[template]
    report = ConversionReport(spec.data_source)
    seen_problems: set[str] = set()
    records = []
    for row_number, row in enumerate(rows):
        report.rows_in += 1
        try:
            problem = spec.get_problem(row)
            answer = spec.get_answer(row)
        except BadRow as bad:
            report.skip(row_number, str(bad))
            continue
        if spec.dedupe:
            if problem in seen_problems:
                report.duplicates += 1
                continue
            seen_problems.add(problem)
        records.append(
            {
                "data_source": spec.data_source,
                "prompt": build_prompt(problem),
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": answer},
                "extra_info": {
                    "split": split,
                    "index": len(records),
                    "source_id": str(spec.get_source_id(row)),
                    "problem": problem,
                },
            }
        )
    report.rows_out = len(records)
    return records, report


def load_hf_rows(spec: DatasetSpec, input_path: str | None):
    """Loads the dataset with ``datasets``: from the hub by default, or from local files in the same HF layout.

    Why one function: tests feed fixture files through exactly the code a real run uses.

    Args:
        spec: Which hub id / config / split to load.
        input_path: A local ``.parquet``, ``.json`` or ``.jsonl`` file (or a directory of parquet files) holding the
            HF columns; None loads ``spec.hf_id`` from the hub.
    """
    import datasets

    if input_path is None:
        return datasets.load_dataset(spec.hf_id, spec.hf_config, split=spec.hf_split)
    if not os.path.exists(input_path):
        raise FileNotFoundError(f"--input {input_path!r} does not exist")
    if os.path.isdir(input_path):
        return datasets.load_dataset("parquet", data_dir=input_path, split="train")
    builder = "parquet" if input_path.endswith(".parquet") else "json"
    return datasets.load_dataset(builder, data_files=input_path, split="train")


def write_parquet(records: list[dict], path: str) -> None:
    """Writes verl rows to ``path`` (directories created); refuses to write an empty file."""
    import datasets

    if not records:
        raise ValueError(f"no valid rows to write to {path}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    datasets.Dataset.from_list(records).to_parquet(path)


def output_path(local_dir: str, data_source: str) -> str:
    """``<local_dir>/<data_source>.parquet``: the launchers build their file lists from these names."""
    return os.path.join(os.path.expanduser(local_dir), f"{data_source}.parquet")


def main(spec: DatasetSpec, split: str, argv: list[str] | None = None) -> ConversionReport:
    """CLI shared by the per-dataset scripts: load, convert, write, print the report.

    Args:
        spec: The dataset.
        split: "train" or "test", written into ``extra_info.split``.
        argv: Command-line arguments (None = ``sys.argv``).

    Returns:
        The conversion report (also printed).
    """
    parser = argparse.ArgumentParser(description=f"Convert {spec.hf_id} to verl parquet ({spec.data_source}).")
    parser.add_argument("--local_dir", default="~/data/aero", help="output directory")
    parser.add_argument("--template", default="boxed", choices=sorted(TEMPLATES), help="prompt template")
    parser.add_argument("--input", default=None, help="local file/dir in the HF layout instead of the hub")
    args = parser.parse_args(argv)

    records, report = convert_rows(load_hf_rows(spec, args.input), spec, args.template, split)
    path = output_path(args.local_dir, spec.data_source)
    write_parquet(records, path)
    print(f"{report.summary()} -> {path}")
    if report.skipped:
        logger.warning("skipped rows in %s: %s", spec.data_source, dict(report.skipped))
    return report
