"""Minerva Math (272 problems) -> ``minerva.parquet``."""

from data_prep.common import columns_spec, main

SPEC = columns_spec("minerva", "math-ai/minervamath", "test", "question", "answer")

if __name__ == "__main__":
    main(SPEC, split="test")
