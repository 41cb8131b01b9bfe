"""A task family of one's own, "touch": one banana, and a pad on it succeeds."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from banana_grasp.agents.families import Family, register
from banana_grasp.envs import Measured, TaskFamilyEnv, arguments_of, task_distribution


class TouchEnv(TaskFamilyEnv):
    """One banana, placed as the lift family's position variation; a pad on it succeeds."""

    reward_terms = ("reach", "touch")

    def __init__(self, split: str = "train", **robot: Any) -> None:
        super().__init__(arguments_of(TouchEnv.__init__, locals()))
        self.tasks = task_distribution("position", split)

    def _evaluate(self, measured: Measured) -> tuple[float, dict[str, Any]]:
        reach, touch = 1.0 - np.tanh(10.0 * measured.distance[0]), float(measured.touching[0])
        return reach + touch, self._info(bool(touch), {"reach": reach, "touch": touch})


TOUCH_IDS = {"train": "Toy/Touch-v0", "heldout": "Toy/Touch-HeldOut-v0"}
for split, id_ in TOUCH_IDS.items():
    if id_ not in gym.registry:
        gym.register(id_, entry_point=TouchEnv, max_episode_steps=30, kwargs={"split": split})


class TouchFamily(Family):
    name = "touch"
    variations = ("touch",)
    raw_keys = ("banana_color", "banana_quat", "finger_contact", "prev_action", "prev_done")

    def env_id(self, variation: str, split: str) -> str:
        return TOUCH_IDS[split]

    def task_sampler(self, variation: str, split: str, position_layout: str) -> Any:
        return task_distribution("position", split)


register(TouchFamily())
