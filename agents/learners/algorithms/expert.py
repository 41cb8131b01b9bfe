"""The expert reference: the scripted expert of banana_grasp.envs, from privileged state
(in the hidden-target family, the target's)."""

from __future__ import annotations

import gymnasium as gym

from banana_grasp.agents.learners.algorithms.reference import ReferenceAgent
from banana_grasp.agents.learners.envs import EvalEnvs
from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.envs import ScriptedExpert


class ExpertAgent(ReferenceAgent):
    def controller(self, env: gym.Env, seed: int):
        expert = ScriptedExpert()
        # The hidden-target env shows the expert its target (privileged), in the lift env's format.
        sees = getattr(env.unwrapped, "target_observation", env.unwrapped.state_observation)
        return lambda obs: expert.act(sees())


def load_agent(learner: LearnerSpec, files: None, envs: EvalEnvs) -> ExpertAgent:
    return ExpertAgent(learner, envs)
