"""Building the (vector) environments a learner trains, adapts and is evaluated in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

from banana_grasp.agents.specs import LearnerSpec
from banana_grasp.envs import ENV_IDS, Greyscale, Task

# Observation keys left out of VecNormalize: already in [-1, 1], and constant or nearly so
# while some learners train (the banana's colour for a position specialist, contact flags
# early on). Normalising such a key divides by a near-zero std, so any new value becomes a
# huge input: a normalisation artifact, not the learner's generalisation.
RAW_KEYS = ("banana_color", "banana_luminance", "banana_quat", "finger_contact", "prev_action", "prev_done")


def env_id(variation: str, split: str) -> str:
    for env_id_, pair in ENV_IDS.items():
        if pair == (variation, split):
            return env_id_
    raise ValueError(f"no registered id for variation {variation!r}, split {split!r}")


class FixedTask(gym.Wrapper):
    """Pins one task: every reset uses it."""

    def __init__(self, env: gym.Env, task: Task) -> None:
        super().__init__(env)
        self.task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return self.env.reset(seed=seed, options={**(options or {}), "task": self.task})


class Trial(gym.Wrapper):
    """RL^2 trials: ``episodes`` episodes of one task form one episode of this env.

    The observation gains the previous action, reward and an episode-boundary flag; no
    terminal signal passes between the episodes of a trial, so a recurrent policy keeps
    its memory. ``info["trial_successes"]`` lists each episode's final success at the end.
    """

    def __init__(self, env: gym.Env, episodes: int) -> None:
        super().__init__(env)
        if episodes < 1:
            raise ValueError(f"a trial needs >= 1 episode; got {episodes}")
        self.episodes = episodes
        n_actions = env.action_space.shape[0]
        self.observation_space = spaces.Dict(
            {
                **env.observation_space.spaces,
                "prev_action": spaces.Box(-1.0, 1.0, (n_actions,), np.float32),
                "prev_reward": spaces.Box(-np.inf, np.inf, (1,), np.float32),
                "prev_done": spaces.Box(0.0, 1.0, (1,), np.float32),
            }
        )
        self._zero_action = np.zeros(n_actions, np.float32)
        self._task: Task | None = None
        self._successes: list[bool] = []

    def _augment(self, obs: dict, action: np.ndarray, reward: float, done: bool) -> dict:
        return {
            **obs,
            "prev_action": np.clip(np.asarray(action, np.float32), -1.0, 1.0),
            "prev_reward": np.array([reward], np.float32),
            "prev_done": np.array([float(done)], np.float32),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._task, self._successes = info["task"], []
        return self._augment(obs, self._zero_action, 0.0, False), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not (terminated or truncated):
            return self._augment(obs, action, reward, False), reward, False, False, info
        self._successes.append(bool(info["is_success"]))
        if len(self._successes) >= self.episodes:
            info = {**info, "trial_successes": list(self._successes)}
            return self._augment(obs, action, reward, True), reward, terminated, truncated, info
        obs, _ = self.env.reset(options={"task": self._task})
        return self._augment(obs, action, reward, True), reward, False, False, info


def env_factory(
    learner: LearnerSpec,
    variation: str,
    split: str = "train",
    position_layout: str = "interleaved",
    task: Task | None = None,
    trial_episodes: int | None = None,
    **env_kwargs: Any,
) -> Callable[[], gym.Env]:
    """A function making one env as ``learner`` sees it (greyscale, RL^2 trials, pinned task)."""

    def make() -> gym.Env:
        env = gym.make(env_id(variation, split), position_layout=position_layout, **env_kwargs)
        if task is not None:
            env = FixedTask(env, task)
        if learner.greyscale:
            env = Greyscale(env)
        if learner.kind == "rl2":
            env = Trial(env, trial_episodes or 2)
        return env

    return make


def make_vec(factory: Callable[[], gym.Env], n_envs: int, seed: int) -> VecEnv:
    """DummyVecEnv (faster than subprocesses for this light physics on 2 cores) + VecMonitor."""
    venv = DummyVecEnv([factory] * n_envs)
    venv.seed(seed)
    return VecMonitor(venv)


def normalized_keys(observation_space: spaces.Dict, all_keys: bool = False) -> list[str]:
    return [key for key in observation_space.spaces if all_keys or key not in RAW_KEYS]
