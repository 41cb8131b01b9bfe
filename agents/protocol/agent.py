"""One interface for every learner: adapt to a task with k episodes, then act.

An agent is evaluated on a task as: ``reset()`` (back to the trained state),
``adapt(task, k, seed)`` (spend k episodes of that task), then ``rollout(task, seed)``
for each evaluation episode. How an agent adapts is its own business: fine-tuning
(PPO learners, Reptile), memory (RL^2), or nothing (references). Each learner kind
(``banana_grasp.agents.learners``) provides one; it need not import this Protocol.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from banana_grasp.envs import Task


class Agent(Protocol):
    name: str
    # Optional (the evaluation reads it with getattr): after a rollout, the last info of each
    # episode it played in one trial, the scored one last (one episode for most learners; k + 1
    # for a learner that adapts in context). The tasks' family reads what it records from them
    # (``Family.outcome_fields``).
    last_episodes: list[dict]

    def reset(self) -> None:
        """Forget any adaptation: back to the trained agent."""

    def adapt(self, task: Task, k: int, seed: int) -> None:
        """Spend ``k`` episodes on ``task`` (k = 0: zero-shot, nothing happens)."""

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        """One evaluation episode: (success at its last step, frames if ``render``)."""

    # Optional (the evaluation looks for it): ``use_adaptation(setting)``, adapt from now on with
    # ``setting`` of ``hyperparams.yaml: adaptation_menu`` (changes to ``finetune``, or None for
    # no update). A single-task or multi-task learner whose agent has it chooses its setting on
    # validation tasks of its own training variation (``EvalProtocol.validation_tasks``).


def adapted_rollout(agent: Agent, task: Task, k: int, seed: int, render: bool = False) -> tuple[bool, list]:
    """One episode of ``task`` after ``k`` adaptation episodes, the agent reset before and after."""
    agent.reset()
    agent.adapt(task, k, seed)
    result = agent.rollout(task, seed, render=render)
    agent.reset()
    return result
