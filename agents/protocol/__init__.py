"""The evaluation protocol: the Agent interface, presets, evaluation, statistics, summary."""
