"""Rule-based math reward for every AERO data source (train and eval), routed through ``reward.custom_reward_function``.

Routing every ``data_source`` through one function avoids verl's ``default_compute_score``, which raises
``NotImplementedError`` for names it does not know (for example ``amc23``).
"""
