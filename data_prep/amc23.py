"""AMC 2023 (40 problems) -> ``amc23.parquet``; numeric answers stored as floats are written as integers."""

from data_prep.common import DatasetSpec, main, require_text

SPEC = DatasetSpec(
    data_source="amc23",
    hf_id="zwhe99/amc23",
    hf_split="test",
    get_problem=lambda row: require_text(row, "question", "problem"),
    get_answer=lambda row: require_text(row, "answer", "answer"),
    get_source_id=lambda row: row.get("id", ""),
)

if __name__ == "__main__":
    main(SPEC, split="test")
