"""Observation wrappers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

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
