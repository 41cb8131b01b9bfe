"""PPO learners (stable-baselines3): the specialists, the multi-task learner and the oracle.

Trained with :func:`~banana_grasp.agents.learners.training.train_sb3`; adapted to a new task
by fine-tuning (:class:`PolicyAgent`).
"""

from __future__ import annotations

import copy

import numpy as np
from stable_baselines3 import PPO

from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners import storage
from banana_grasp.agents.learners.envs import EvalEnvs, PadEpisode, make_vec, run_episode
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.training import TrainSettings, train_sb3
from banana_grasp.envs import MAX_EPISODE_STEPS, Task

POLICY = "MultiInputPolicy"


def train(learner: LearnerSpec, seed: int, steps: int, files: LearnerFiles, settings: TrainSettings) -> dict:
    return train_sb3(learner, seed, steps, files, settings, PPO, POLICY)


class PolicyAgent:
    """A trained PPO policy; adapts by fine-tuning.

    ``adapt`` collects k whole episodes of the task with the stochastic policy (an episode
    that ends early is padded, see ``envs.PadEpisode``) and runs PPO updates on them from the
    trained weights, with the same settings (``hyperparams.yaml: finetune``) for every
    learner; k = 0 changes no weight.
    """

    def __init__(self, learner: LearnerSpec, files: LearnerFiles, envs: EvalEnvs, finetune: dict | None = None) -> None:
        self.name, self.learner, self.files = learner.name, learner, files
        self.model, self.normalize = storage.load_model(files, PPO)
        self.normalize.training = False
        self._trained_state = copy.deepcopy(self.model.policy.state_dict())
        self._envs = envs
        self._finetune = {**hyperparameters("finetune"), **(finetune or {})}

    def reset(self) -> None:
        self.model.policy.load_state_dict(self._trained_state)

    def adapt(self, task: Task, k: int, seed: int) -> None:
        if k == 0:
            return
        n_steps = k * MAX_EPISODE_STEPS  # exactly k whole episodes (PadEpisode)
        venv = make_vec(lambda: PadEpisode(self._envs.make(task), MAX_EPISODE_STEPS), [seed])
        model, normalize = storage.load_model(
            self.files, PPO, venv, n_steps=n_steps, batch_size=min(n_steps, self._finetune["batch_size"]),
            n_epochs=self._finetune["n_epochs"], learning_rate=self._finetune["learning_rate"], tensorboard_log=None,
        )  # fmt: skip
        normalize.training = False  # statistics stay those of training; only weights adapt
        model.policy.load_state_dict(self._trained_state)
        model.set_random_seed(seed)
        model.learn(n_steps)
        venv.close()
        self.model.policy.load_state_dict(model.policy.state_dict())

    def act(self, obs: dict) -> np.ndarray:
        batch = {key: value[None] for key, value in self.normalize.normalize_obs(obs).items()}
        action, _ = self.model.predict(batch, deterministic=True)
        return action[0]

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        env = self._envs.make(task, render)
        info, frames = run_episode(env, self.act, seed, render)
        env.close()
        return bool(info["is_success"]), frames


def load_agent(learner: LearnerSpec, files: LearnerFiles, envs: EvalEnvs) -> PolicyAgent:
    return PolicyAgent(learner, files, envs)
