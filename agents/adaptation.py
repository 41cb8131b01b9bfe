"""One interface for every learner: adapt to a task with k episodes, then act.

An :class:`Agent` is evaluated on a task as: ``reset()`` (back to the trained state),
``adapt(task, k, seed)`` (spend k episodes of that task), then ``rollout(task, seed)``
for each evaluation episode. How an agent adapts is its own business:

- :class:`PolicyAgent` (PPO learners, Reptile): fine-tuning, i.e. PPO updates on k x 100
  steps (k episodes, unless one ends early) it collects on the task, from the trained
  weights, with the same settings (``hyperparams.yaml: finetune``) for every learner;
  k = 0 changes no weight.
- :class:`RL2Agent`: in-context. Every evaluation episode is the last episode of a trial
  whose first k episodes are the adaptation episodes, memory carried across the trial
  and no weight changed; actions are sampled in the adaptation episodes, as in training.
  Each evaluated episode is thus preceded by exactly k episodes of the task, as for the
  fine-tuned learners.
- :class:`RandomAgent` and :class:`ExpertAgent` (references) do not adapt.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Protocol

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.utils import set_random_seed

from banana_grasp.agents import storage
from banana_grasp.agents.specs import LearnerSpec, hyperparameters
from banana_grasp.agents.vec import env_factory, make_vec
from banana_grasp.envs import MAX_EPISODE_STEPS, ScriptedExpert, Task


class Agent(Protocol):
    name: str

    def reset(self) -> None:
        """Forget any adaptation: back to the trained agent."""

    def adapt(self, task: Task, k: int, seed: int) -> None:
        """Spend ``k`` episodes on ``task`` (k = 0: zero-shot, nothing happens)."""

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        """One evaluation episode: (success at its last step, frames if ``render``)."""


def _run_episode(env: gym.Env, act, seed: int, render: bool) -> tuple[dict, list[np.ndarray]]:
    obs, info = env.reset(seed=seed)
    frames = [env.render()] if render else []
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(act(obs))
        done = terminated or truncated
        if render:
            frames.append(env.render())
    return info, frames


class _EvalEnvs:
    """Makes the evaluation envs of one learner (its variation, split and layout), one task each."""

    def __init__(self, learner: LearnerSpec, variation: str, split: str, layout: str):
        self.learner, self.variation, self.split, self.layout = learner, variation, split, layout

    def make(self, task: Task | None, render: bool = False, trial_episodes: int = 1) -> gym.Env:
        kwargs = {"render_mode": "rgb_array"} if render else {}
        return env_factory(self.learner, self.variation, self.split, self.layout, task=task,
                           trial_episodes=trial_episodes, **kwargs)()  # fmt: skip


class PolicyAgent:
    """A trained PPO policy (specialists, multi-task, oracle, Reptile); adapts by fine-tuning."""

    def __init__(self, learner: LearnerSpec, folder: Path, variation: str = "both", split: str = "heldout",
                 position_layout: str = "interleaved") -> None:  # fmt: skip
        self.name, self.learner, self.folder = learner.name, learner, Path(folder)
        self.model, self.normalize = storage.load_model(self.folder, PPO)
        self.normalize.training = False
        self._trained_state = copy.deepcopy(self.model.policy.state_dict())
        self._envs = _EvalEnvs(learner, variation, split, position_layout)
        self._finetune = hyperparameters("finetune")

    def reset(self) -> None:
        self.model.policy.load_state_dict(self._trained_state)

    def adapt(self, task: Task, k: int, seed: int) -> None:
        if k == 0:
            return
        n_steps = k * MAX_EPISODE_STEPS
        venv = make_vec(lambda: self._envs.make(task), 1, seed)
        model, normalize = storage.load_model(
            self.folder, PPO, venv, n_steps=n_steps, batch_size=min(n_steps, 100),
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
        info, frames = _run_episode(env, self.act, seed, render)
        env.close()
        return bool(info["is_success"]), frames


class RL2Agent:
    """A RecurrentPPO policy trained on trials; adapts in context (memory across episodes)."""

    def __init__(self, learner: LearnerSpec, folder: Path, variation: str = "both", split: str = "heldout",
                 position_layout: str = "interleaved") -> None:  # fmt: skip
        self.name, self.learner, self.folder = learner.name, learner, Path(folder)
        self.model, self.normalize = storage.load_model(self.folder, RecurrentPPO)
        self.normalize.training = False
        self._envs = _EvalEnvs(learner, variation, split, position_layout)
        # Trials longer than those of training would put the memory out of its distribution.
        self.max_k = int(storage.read_json(self.folder / storage.META).get("trial_episodes", 2)) - 1
        self.k = 0
        self.last_trial_successes: list[bool] = []  # each episode's success in the last trial

    def reset(self) -> None:
        self.k = 0

    def adapt(self, task: Task, k: int, seed: int) -> None:
        if k > self.max_k:
            raise ValueError(
                f"{self.name} in {self.folder} was trained on trials of {self.max_k + 1} episodes: it can adapt "
                f"with k <= {self.max_k} episodes, not {k} (train it with --trial-episodes {k + 1})"
            )
        self.k = k  # the adaptation episodes are played inside each evaluation trial

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        env = self._envs.make(task, render, trial_episodes=self.k + 1)
        state, start = None, np.ones((1,), bool)
        steps = last_episode_start = episode = 0
        set_random_seed(seed)

        def act(obs: dict) -> np.ndarray:
            nonlocal state, start, steps, last_episode_start, episode
            if obs["prev_done"][0] > 0:  # a new episode of the trial begins at this step
                last_episode_start, episode = steps, episode + 1
            steps += 1
            batch = {key: value[None] for key, value in self.normalize.normalize_obs(obs).items()}
            # Adaptation episodes sample actions, as in training and as the fine-tuned learners
            # collect theirs; the scored episode acts deterministically, as every learner does.
            deterministic = episode == self.k
            action, state = self.model.predict(batch, state=state, episode_start=start, deterministic=deterministic)
            start = np.zeros((1,), bool)
            return action[0]

        info, frames = _run_episode(env, act, seed, render)
        env.close()
        self.last_trial_successes = list(info["trial_successes"])
        # Film only the evaluated episode, like every other learner's clip.
        return bool(info["trial_successes"][-1]), frames[last_episode_start:]


class _ReferenceAgent:
    """A fixed controller: nothing to adapt. Subclasses say how it acts in an env."""

    def __init__(self, learner: LearnerSpec, variation: str = "both", split: str = "heldout",
                 position_layout: str = "interleaved") -> None:  # fmt: skip
        self.name = learner.name
        self._envs = _EvalEnvs(learner, variation, split, position_layout)

    def reset(self) -> None:
        pass

    def adapt(self, task: Task, k: int, seed: int) -> None:
        pass

    def _controller(self, env: gym.Env, seed: int):
        raise NotImplementedError

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        env = self._envs.make(task, render)
        info, frames = _run_episode(env, self._controller(env, seed), seed, render)
        env.close()
        return bool(info["is_success"]), frames


class RandomAgent(_ReferenceAgent):
    """Uniform random actions."""

    def _controller(self, env: gym.Env, seed: int):
        env.action_space.seed(seed)
        return lambda obs: env.action_space.sample()


class ExpertAgent(_ReferenceAgent):
    """The scripted expert, from privileged state."""

    def _controller(self, env: gym.Env, seed: int):
        expert = ScriptedExpert()
        return lambda obs: expert.act(env.unwrapped.state_observation())


def load_agent(learner: LearnerSpec, folder: Path | None, variation: str = "both", split: str = "heldout",
               position_layout: str = "interleaved") -> Agent:  # fmt: skip
    """The agent for ``learner``, evaluated on ``variation``/``split`` (trained ones load from ``folder``)."""
    torch.set_num_threads(1)
    if learner.kind == "random":
        return RandomAgent(learner, variation, split, position_layout)
    if learner.kind == "expert":
        return ExpertAgent(learner, variation, split, position_layout)
    if folder is None:
        raise ValueError(f"learner {learner.name!r} is trained: give the folder it was saved in")
    agent_class = RL2Agent if learner.kind == "rl2" else PolicyAgent
    return agent_class(learner, folder, variation, split, position_layout)
