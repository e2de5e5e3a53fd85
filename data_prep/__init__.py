"""Offline dataset preparation: HF datasets and the synthetic CPU task to verl parquet."""
