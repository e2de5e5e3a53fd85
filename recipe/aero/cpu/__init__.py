"""Running the real verl trainer on a CPU: the override list (:mod:`.overrides`) and a launcher (:mod:`.launcher`).

The CPU platform itself lives in ``verl_patches`` (active only with ``VERL_PLATFORM=cpu``); this package
holds the configuration lines that select it and a subprocess launcher that reads verl's JSONL metrics, for
tests, CI smoke runs and the CPU demo.
"""
