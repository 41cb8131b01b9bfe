"""A learner kind of one's own, outside banana-grasp: PPO that never adapts.

It trains as the package's PPO learners do (``ppo.train``: checkpoints, exact resume, success
checks) and is saved and loaded by the package's storage (``blueprint`` tells it what the
model is made of), but ``adapt`` ignores its k episodes: every episode is played zero-shot.
Entered as a meta-learner, it is a control that can gain nothing from adaptation.
"""

from __future__ import annotations

from banana_grasp.agents.learners.algorithms.ppo import PolicyAgent, blueprint, train

__all__ = ["blueprint", "load_agent", "train"]


class FrozenAgent(PolicyAgent):
    def adapt(self, task, k: int, seed: int) -> None:
        """The k episodes of the task change nothing."""


def load_agent(learner, files, envs) -> FrozenAgent:
    return FrozenAgent(learner, files, envs)
