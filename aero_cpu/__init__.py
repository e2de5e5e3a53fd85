"""The CPU harness: everything needed to run the real verl trainer with AERO on a GPU-less machine.

Not part of the recipe a GPU user runs (``recipe.aero`` never imports this package). It holds:

* :mod:`.overrides`: the Hydra overrides that select the CPU platform from ``verl_patches`` (active only with
  ``VERL_PLATFORM=cpu``) and the tiny-run sizes;
* :mod:`.launcher`: a subprocess launcher that runs a verl entry point and reads its JSONL metrics (tests, CI
  smoke runs, the CPU demo, the benchmarks);
* :mod:`.tiny_assets`: a byte-level tokenizer, a tiny Qwen2 and toy parquet data, built locally;
* :mod:`.synthetic_arith`, :mod:`.synthetic_reward`, :mod:`.warm_start`: the CPU demo's synthetic task, its
  exact-match reward and the warm-started policy.
"""
