"""Reference agents: fixed controllers with nothing to train or adapt."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from banana_grasp.agents.learners.envs import EvalEnvs, run_episode
from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.envs import Task


class ReferenceAgent:
    """A fixed controller. Subclasses say how it acts in an env (:meth:`controller`)."""

    def __init__(self, learner: LearnerSpec, envs: EvalEnvs) -> None:
        self.name = learner.name
        self._envs = envs
        self.last_episodes: list[dict] = []  # the last info of the last rollout's episode

    def reset(self) -> None:
        pass

    def adapt(self, task: Task, k: int, seed: int) -> None:
        pass

    def controller(self, env: gym.Env, seed: int) -> Callable[[dict], np.ndarray]:
        raise NotImplementedError

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        env = self._envs.make(task, render)
        info, frames = run_episode(env, self.controller(env, seed), seed, render)
        env.close()
        self.last_episodes = [info]
        return bool(info["is_success"]), frames
