"""MATH-500 (test, 500) -> ``math500.parquet``."""

from data_prep.common import DatasetSpec, main, require_text

SPEC = DatasetSpec(
    data_source="math500",
    hf_id="HuggingFaceH4/MATH-500",
    hf_split="test",
    get_problem=lambda row: require_text(row, "problem", "problem"),
    get_answer=lambda row: require_text(row, "answer", "answer"),
    get_source_id=lambda row: row.get("unique_id", ""),
)

if __name__ == "__main__":
    main(SPEC, split="test")
