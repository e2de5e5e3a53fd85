"""AIME 2024 (30 problems, HF split "train") -> ``aime24.parquet``."""

from data_prep.common import columns_spec, main

SPEC = columns_spec("aime24", "HuggingFaceH4/aime_2024", "train", "problem", "answer", id_key="id")

if __name__ == "__main__":
    main(SPEC, split="test")
