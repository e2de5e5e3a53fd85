"""MATH-500 (test, 500) -> ``math500.parquet``."""

from data_prep.common import columns_spec, main

SPEC = columns_spec("math500", "HuggingFaceH4/MATH-500", "test", "problem", "answer", id_key="unique_id")

if __name__ == "__main__":
    main(SPEC, split="test")
