"""Minerva Math (272 problems) -> ``minerva.parquet``."""

from data_prep.common import DatasetSpec, main, require_text

SPEC = DatasetSpec(
    data_source="minerva",
    hf_id="math-ai/minervamath",
    hf_split="test",
    get_problem=lambda row: require_text(row, "question", "problem"),
    get_answer=lambda row: require_text(row, "answer", "answer"),
)

if __name__ == "__main__":
    main(SPEC, split="test")
