"""The random reference: uniform random actions."""

from __future__ import annotations

import gymnasium as gym

from banana_grasp.agents.learners.algorithms.reference import ReferenceAgent
from banana_grasp.agents.learners.envs import EvalEnvs
from banana_grasp.agents.learners.registry import LearnerSpec


class RandomAgent(ReferenceAgent):
    def controller(self, env: gym.Env, seed: int):
        env.action_space.seed(seed)
        return lambda obs: env.action_space.sample()


def load_agent(learner: LearnerSpec, files: None, envs: EvalEnvs) -> RandomAgent:
    return RandomAgent(learner, envs)
