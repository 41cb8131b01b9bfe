"""The (vector) environments a learner trains, adapts and is evaluated in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.envs import FixedTask, Greyscale, Task, Trial, env_id

# Observation keys left out of VecNormalize: already in [-1, 1], and constant or nearly so
# while some learners train (the banana's colour for a position specialist, contact flags
# early on). Normalising such a key divides by a near-zero std, so any new value becomes a
# huge input: a normalisation artifact, not the learner's generalisation.
RAW_KEYS = ("banana_color", "banana_luminance", "banana_quat", "finger_contact", "prev_action", "prev_done")


@dataclass(frozen=True)
class EnvSpec:
    """Which tasks an env draws: a variation, a split and the position layout."""

    variation: str
    split: str
    position_layout: str


def env_factory(
    learner: LearnerSpec,
    tasks: EnvSpec,
    task: Task | None = None,
    trial_episodes: int = 1,
    render: bool = False,
) -> Callable[[], gym.Env]:
    """A function making one env as ``learner`` sees it: greyscale if it is, RL^2's trials of
    ``trial_episodes`` episodes if it adapts in context, ``task`` pinned if given."""

    def make() -> gym.Env:
        kwargs = {"render_mode": "rgb_array"} if render else {}
        env = gym.make(env_id(tasks.variation, tasks.split), position_layout=tasks.position_layout, **kwargs)
        if task is not None:
            env = FixedTask(env, task)
        if learner.greyscale:
            env = Greyscale(env)
        if learner.in_context:
            env = Trial(env, trial_episodes)
        return env

    return make


def make_vec(factory: Callable[[], gym.Env], n_envs: int, seed: int) -> VecEnv:
    """DummyVecEnv (faster than subprocesses for this light physics on 2 cores) + VecMonitor."""
    venv = DummyVecEnv([factory] * n_envs)
    venv.seed(seed)
    return VecMonitor(venv)


def normalized_keys(observation_space: spaces.Dict, all_keys: bool = False) -> list[str]:
    return [key for key in observation_space.spaces if all_keys or key not in RAW_KEYS]


class EvalEnvs:
    """Makes the evaluation envs of one learner (on the tasks of ``tasks``), one task each."""

    def __init__(self, learner: LearnerSpec, tasks: EnvSpec) -> None:
        self.learner, self.tasks = learner, tasks

    def make(self, task: Task | None, render: bool = False, trial_episodes: int = 1) -> gym.Env:
        return env_factory(self.learner, self.tasks, task, trial_episodes, render)()


def run_episode(env: gym.Env, act: Callable[[dict], np.ndarray], seed: int, render: bool) -> tuple[dict, list]:
    """Play one episode of ``env`` from ``reset(seed=seed)``: its last info, and frames if ``render``."""
    obs, info = env.reset(seed=seed)
    frames = [env.render()] if render else []
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(act(obs))
        done = terminated or truncated
        if render:
            frames.append(env.render())
    return info, frames
