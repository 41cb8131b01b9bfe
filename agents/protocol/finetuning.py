"""Does fine-tuning move a policy? Success and action change after k episodes, per setting.

Used to choose ``hyperparams.yaml: finetune`` (``scripts/measure_finetuning.py``): for each
setting, the same held-out tasks and episode seeds as the protocol, success zero-shot and
after each k, and how far the adapted policy's deterministic actions moved from the trained
ones on the states of the zero-shot episode (mean absolute change per action dimension, the
actions in [-1, 1]).
"""

from __future__ import annotations

import numpy as np

from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners.algorithms.ppo import PolicyAgent
from banana_grasp.agents.learners.envs import EvalEnvs, run_episode
from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.protocol.evaluation import episode_seed
from banana_grasp.agents.protocol.presets import EvalProtocol


def _recording(agent: PolicyAgent, states: list[dict]):
    def act(obs: dict) -> np.ndarray:
        states.append(obs)
        return agent.act(obs)

    return act


def measure_finetuning(
    spec: LearnerSpec, files: LearnerFiles, protocol: EvalProtocol, settings: list[dict], seed: int
) -> list[dict]:
    """One row per (setting, k): mean success over the protocol's tasks and mean action change."""
    rows = []
    tasks = protocol.evaluation_tasks()
    for setting in settings:
        envs = EvalEnvs(spec, protocol.evaluated_on)
        agent = PolicyAgent(spec, files, envs, finetune=setting)
        for k in protocol.k:
            successes, changes = [], []
            for t, task in enumerate(tasks):
                agent.reset()
                env = envs.make(task)
                states: list[dict] = []
                run_episode(env, _recording(agent, states), episode_seed(seed, t, 0, "heldout", 0), render=False)
                env.close()
                before = np.array([agent.act(obs) for obs in states])
                agent.adapt(task, k, episode_seed(seed, t, 0, "adaptation", k))
                after = np.array([agent.act(obs) for obs in states])
                changes.append(float(np.abs(after - before).mean()))
                successes.append(agent.rollout(task, episode_seed(seed, t, 0, "heldout", k))[0])
            rows.append(
                {**setting, "k": k, "success": float(np.mean(successes)), "action_change": float(np.mean(changes))}
            )
    return rows
