"""AERO (arXiv 2602.14338) as a verl 0.9.1 recipe: adaptive rollout, curation and posterior advantages."""
