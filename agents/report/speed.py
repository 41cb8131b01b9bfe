"""Training speed from the learning curves: env steps per second and time to 90% success.

A seed reached 90% where its training rollouts did (mean of 3 consecutive rollouts), or
where training stopped because its deterministic policy passed a success check of at least
90% (``learners.stopping``; a preset's ``stop_at_success``): that check, not the sampled
rollouts, is what stopped it.
"""

from __future__ import annotations

import numpy as np

from banana_grasp.agents.common.curves import read_curve, time_to_success
from banana_grasp.agents.common.files import read_json
from banana_grasp.agents.common.layout import LearnerFiles, RunLayout


def _reached(files: LearnerFiles, curve: list[dict]) -> dict | None:
    reached = time_to_success(curve)
    meta = read_json(files.meta) if files.meta.is_file() else {}
    stopped = meta.get("stopped_at_success")
    if stopped is not None and stopped >= 0.9 and curve:
        checked = {"steps": int(meta["steps"]), "wall_seconds": curve[-1]["wall_seconds"]}
        if reached is None or checked["steps"] < reached["steps"]:
            return checked
    return reached


def training_speed(run: RunLayout, names: list[str], seeds: list[int]) -> dict:
    """Per learner: env steps per second, and steps and wall time to 90% training success per seed."""
    speed = {}
    for name in names:
        curves = {seed: read_curve(run.learner(name, seed).curve) for seed in seeds}
        rates = [c[-1]["steps"] / c[-1]["wall_seconds"] for c in curves.values() if c and c[-1]["wall_seconds"] > 0]
        reached = {seed: _reached(run.learner(name, seed), c) for seed, c in curves.items()}
        speed[name] = {
            "steps_per_second": round(float(np.mean(rates)), 1) if rates else None,
            "to_90_percent": {str(seed): value for seed, value in reached.items()},
            "seeds_reaching_90_percent": sum(value is not None for value in reached.values()),
        }
    return speed
