"""The (vector) environments a learner trains, adapts and is evaluated in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor

from banana_grasp.agents.families import family_of, raw_keys
from banana_grasp.agents.learners.policies.pixels import PIXEL_KWARGS, STATE_PREFIX, PrivilegedState
from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.envs import FixedTask, Greyscale, Task, Trial

# Observation keys left out of VecNormalize (each family's ``raw_keys``): already in [-1, 1],
# and constant or nearly so while some learners train (the banana's colour for a position
# specialist, contact flags early on). Normalising such a key divides by a near-zero std, so
# any new value becomes a huge input: a normalisation artifact, not the learner's generalisation.


@dataclass(frozen=True)
class EnvSpec:
    """Which tasks an env draws: a variation, a split and the position layout."""

    variation: str
    split: str
    position_layout: str

    @property
    def episode_steps(self) -> int:
        """Steps of one episode of these tasks' env (its registered time limit)."""
        return family_of(self.variation).episode_steps(self.variation, self.split)


def env_factory(
    learner: LearnerSpec,
    tasks: EnvSpec,
    task: Task | None = None,
    trial_episodes: int = 1,
    render: bool = False,
) -> Callable[[], gym.Env]:
    """A function making one env as ``learner`` sees it: pixels (with the privileged state
    under ``state_*``) or state, greyscale if it is, RL^2's trials of
    ``trial_episodes`` episodes if it adapts in context, ``task`` pinned if given; the hidden
    task in its observation if it is an oracle (``shows_task``)."""
    family = family_of(tasks.variation)
    id_ = family.env_id(tasks.variation, tasks.split)
    kwargs = family.make_kwargs(tasks.variation, tasks.split, tasks.position_layout)
    if learner.shows_task:
        kwargs.update(family.task_shown_kwargs())

    def make() -> gym.Env:
        extra = {"render_mode": "rgb_array"} if render else {}
        if learner.observation == "pixels":
            extra.update(PIXEL_KWARGS)
        env = gym.make(id_, **kwargs, **extra)
        pinned = family.pinned_task(tasks.variation)
        if pinned is not None:  # a single-task learner's one task; a task given below replaces it
            env = FixedTask(env, pinned)
        if task is not None:
            env = FixedTask(env, task)
        if learner.greyscale:
            env = Greyscale(env)
        if learner.observation == "pixels":
            env = PrivilegedState(env, gym.make(id_).observation_space)
        if learner.in_context:  # every episode padded to its full length: trials of fixed length
            env = Trial(PadEpisode(env, tasks.episode_steps), trial_episodes)
        return env

    return make


class PadEpisode(gym.Wrapper):
    """Every episode lasts exactly ``length`` steps: one that terminates early (the banana off
    the table) stays in an absorbing state, its last observation with reward 0, until then.

    So k episodes are exactly ``k * length`` steps, and a fixed-size rollout of that many
    steps holds k whole episodes and nothing of a (k+1)-th. The end is reported as
    ``terminated`` (nothing follows an absorbing state) with ``info["padded_steps"]``.
    """

    def __init__(self, env: gym.Env, length: int) -> None:
        super().__init__(env)
        self.length = length
        self._steps, self._absorbed = 0, None

    def reset(self, **kwargs):
        self._steps, self._absorbed = 0, None
        return self.env.reset(**kwargs)

    def step(self, action):
        self._steps += 1
        if self._absorbed is None:
            obs, reward, terminated, truncated, info = self.env.step(action)
            if terminated and self._steps < self.length:
                self._absorbed = (obs, {**info, "padded_steps": 0})
                return obs, reward, False, False, info
        else:
            obs, info = self._absorbed[0], {**self._absorbed[1], "padded_steps": self._absorbed[1]["padded_steps"] + 1}
            self._absorbed = (obs, info)
            reward, terminated, truncated = 0.0, False, False
        if self._steps >= self.length:  # the end, whatever the wrapped env's own time limit
            terminated = terminated or self._absorbed is not None
            return obs, reward, terminated, not terminated, info
        return obs, reward, terminated, truncated, info


class SeededVecEnv(DummyVecEnv):
    """A DummyVecEnv whose env ``i`` is seeded with ``seeds[i]`` at its first reset.

    stable-baselines3 calls ``seed(s)`` with the policy's seed when it builds or loads a model,
    which would seed env ``i`` with ``s + i`` (so seeds s and s + 1 would share envs): here
    ``seed()`` re-applies the envs' own seeds instead.
    """

    def __init__(self, env_fns: list[Callable[[], gym.Env]], seeds: list[int]) -> None:
        super().__init__(env_fns)
        if len(seeds) != self.num_envs:
            raise ValueError(f"need one seed per env: {self.num_envs} envs, {len(seeds)} seeds")
        self.env_seeds = [int(s) for s in seeds]
        self.seed()

    def seed(self, seed: int | None = None) -> list[int]:
        self._seeds = list(self.env_seeds)  # VecEnv.reset passes these to each env's reset once
        for env, env_seed in zip(self.envs, self.env_seeds):
            env.action_space.seed(env_seed)
        return list(self.env_seeds)


def make_vec(factory: Callable[[], gym.Env] | list[Callable[[], gym.Env]], seeds: list[int]) -> VecEnv:
    """One env per seed (made by ``factory``, or by one factory each), each seeded (its task
    and start-state stream) with its own: a DummyVecEnv (faster than subprocesses for this
    light physics on 2 cores) + VecMonitor."""
    factories = factory if isinstance(factory, list) else [factory] * len(seeds)
    return VecMonitor(SeededVecEnv(factories, seeds))


def normalized_keys(observation_space: spaces.Dict, all_keys: bool = False) -> list[str]:
    """The keys VecNormalize normalises: all but images and, unless ``all_keys``, the families'
    ``raw_keys`` (also under a pixel learner's ``state_`` prefix)."""
    raw = raw_keys()
    return [
        key
        for key in observation_space.spaces
        if key != "pixels" and (all_keys or key.removeprefix(STATE_PREFIX) not in raw)
    ]


class EvalEnvs:
    """Makes the evaluation envs of one learner (on the tasks of ``tasks``), one task each."""

    def __init__(self, learner: LearnerSpec, tasks: EnvSpec) -> None:
        self.learner, self.tasks = learner, tasks

    @property
    def episode_steps(self) -> int:
        return self.tasks.episode_steps

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
