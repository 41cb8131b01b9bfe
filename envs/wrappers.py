"""Wrappers of the banana-grasp env: Greyscale observations, a pinned task, RL^2 trials."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from banana_grasp.envs.tasks import Task

# ITU-R BT.601 luma weights, as in most greyscale conversions (OpenCV, PIL).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class Greyscale(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Removes colour from either observation mode.

    State: ``banana_color`` (RGB) becomes ``banana_luminance`` (one value in [0, 1]).
    Pixels: ``pixels`` becomes one uint8 channel, shape ``(H, W, 1)``.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # so env.spec can re-make the wrapped env
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Dict) or not ({"banana_color", "pixels"} & set(space.spaces)):
            raise ValueError("Greyscale wraps a banana-grasp env: its Dict observation needs banana_color or pixels")
        new = dict(space.spaces)
        if "banana_color" in new:
            del new["banana_color"]
            new["banana_luminance"] = spaces.Box(0.0, 1.0, (1,), np.float32)
        if "pixels" in new:
            h, w, _ = new["pixels"].shape
            new["pixels"] = spaces.Box(0, 255, (h, w, 1), np.uint8)
        self.observation_space = spaces.Dict(new)

    def observation(self, observation: dict) -> dict:
        observation = dict(observation)
        if "banana_color" in observation:
            observation["banana_luminance"] = np.array([observation.pop("banana_color") @ LUMA], np.float32)
        if "pixels" in observation:
            grey = observation["pixels"] @ LUMA
            observation["pixels"] = np.clip(grey + 0.5, 0, 255).astype(np.uint8)[..., None]
        return observation


class FixedTask(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Pins one task: every reset uses it (``options["task"]``, which the env validates)."""

    def __init__(self, env: gym.Env, task: Task) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, task=task)
        super().__init__(env)
        self.task = task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return self.env.reset(seed=seed, options={**(options or {}), "task": self.task})


class Trial(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """RL^2 trials: ``episodes`` episodes of one task form one episode of this env.

    The observation gains the previous action, reward and an episode-boundary flag
    (``prev_action``, ``prev_reward``, ``prev_done``); no terminal signal passes between the
    episodes of a trial, so a recurrent policy keeps its memory. ``info["trial_successes"]``
    lists each episode's final success at the end of the trial, ``info["trial_infos"]`` each
    episode's last info, and ``info["trial_lifted"]``, where the env reports ``info["lifted"]``
    (the two-banana families), each episode's last one.
    """

    def __init__(self, env: gym.Env, episodes: int) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, episodes=episodes)
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
        self._lifted: list[str | None] = []
        self._infos: list[dict] = []

    def _augment(self, obs: dict, action: np.ndarray, reward: float, done: bool) -> dict:
        return {
            **obs,
            "prev_action": np.clip(np.asarray(action, np.float32), -1.0, 1.0),
            "prev_reward": np.array([reward], np.float32),
            "prev_done": np.array([float(done)], np.float32),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._task, self._successes, self._lifted, self._infos = info["task"], [], [], []
        return self._augment(obs, self._zero_action, 0.0, False), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not (terminated or truncated):
            return self._augment(obs, action, reward, False), reward, False, False, info
        self._successes.append(bool(info["is_success"]))
        self._infos.append(info)
        if "lifted" in info:
            self._lifted.append(info["lifted"])
        if len(self._successes) >= self.episodes:
            info = {**info, "trial_successes": list(self._successes), "trial_infos": list(self._infos)}
            if self._lifted:
                info["trial_lifted"] = list(self._lifted)
            return self._augment(obs, action, reward, True), reward, terminated, truncated, info
        obs, _ = self.env.reset(options={"task": self._task})
        return self._augment(obs, action, reward, True), reward, False, False, info
