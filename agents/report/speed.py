"""Training speed from the learning curves: env steps per second and time to 90% success."""

from __future__ import annotations

import numpy as np

from banana_grasp.agents.common.curves import read_curve, time_to_success
from banana_grasp.agents.common.layout import RunLayout


def training_speed(run: RunLayout, names: list[str], seeds: list[int]) -> dict:
    """Per learner: env steps per second, and steps and wall time to 90% training success per seed."""
    speed = {}
    for name in names:
        curves = {seed: read_curve(run.learner(name, seed).curve) for seed in seeds}
        rates = [c[-1]["steps"] / c[-1]["wall_seconds"] for c in curves.values() if c and c[-1]["wall_seconds"] > 0]
        reached = {seed: time_to_success(c) for seed, c in curves.items()}
        speed[name] = {
            "steps_per_second": round(float(np.mean(rates)), 1) if rates else None,
            "to_90_percent": {str(seed): value for seed, value in reached.items()},
            "seeds_reaching_90_percent": sum(value is not None for value in reached.values()),
        }
    return speed
