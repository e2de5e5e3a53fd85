"""AIME 2024 (30 problems, HF split "train") -> ``aime24.parquet``."""

from data_prep.common import DatasetSpec, main, require_text

SPEC = DatasetSpec(
    data_source="aime24",
    hf_id="HuggingFaceH4/aime_2024",
    hf_split="train",
    get_problem=lambda row: require_text(row, "problem", "problem"),
    get_answer=lambda row: require_text(row, "answer", "answer"),
    get_source_id=lambda row: row.get("id", ""),
)

if __name__ == "__main__":
    main(SPEC, split="test")
