"""AMC 2023 (40 problems) -> ``amc23.parquet``; numeric answers stored as floats are written as integers."""

from data_prep.common import columns_spec, main

SPEC = columns_spec("amc23", "zwhe99/amc23", "test", "question", "answer", id_key="id")

if __name__ == "__main__":
    main(SPEC, split="test")
