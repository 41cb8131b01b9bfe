"""A scripted expert: grasps and lifts any banana from privileged state."""

from __future__ import annotations

import math

import numpy as np

_HOVER = 0.06  # metres above the grasp point before descending
_LIFT = 0.12  # metres above the rest height to carry the banana to
_XY_TOLERANCE = 0.006  # metres
_YAW_TOLERANCE = 0.08  # radians
_Z_TOLERANCE = 0.006  # metres
_CLOSE_STEPS = 6  # steps with the fingers closing before lifting


def banana_yaw(quat: np.ndarray) -> float:
    """Yaw of a banana lying on the table, wrapped to [-pi/2, pi/2) (the grasp is symmetric)."""
    w, x, y, z = (float(v) for v in quat)
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return (yaw + math.pi / 2) % math.pi - math.pi / 2


class ScriptedExpert:
    """Hover over the banana with the fingers across it, descend, close, lift.

    ``act`` takes the state observation (``env.unwrapped.state_observation()`` in pixel
    mode) and returns an action. Call ``reset`` at the start of each episode.
    """

    def __init__(self, max_translation: float = 0.02, max_rotation: float = 0.1) -> None:
        self._max_translation = max_translation
        self._max_rotation = max_rotation
        self.reset()

    def reset(self) -> None:
        self._phase = "hover"
        self._closing = 0
        self._rest_z: float | None = None

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        gripper, banana = obs["gripper_pos"], obs["banana_pos"]
        if self._rest_z is None:
            self._rest_z = float(banana[2])
        yaw_error = banana_yaw(obs["banana_quat"]) - float(obs["gripper_yaw"][0])
        xy_error = float(np.linalg.norm(banana[:2] - gripper[:2]))
        grip = -1.0
        if self._phase == "hover":
            target = banana + (0.0, 0.0, _HOVER)
            if xy_error < _XY_TOLERANCE and abs(yaw_error) < _YAW_TOLERANCE:
                self._phase = "descend"
        if self._phase == "descend":
            target = banana.copy()
            if abs(gripper[2] - banana[2]) < _Z_TOLERANCE:
                self._phase = "close"
        if self._phase == "close":
            target, grip = banana.copy(), 1.0
            self._closing += 1
            if self._closing >= _CLOSE_STEPS:
                self._phase = "lift"
        if self._phase == "lift":
            target = np.array([gripper[0], gripper[1], self._rest_z + _LIFT])
            grip = 1.0
            yaw_error = 0.0
        move = np.clip((target - gripper) / self._max_translation, -1.0, 1.0)
        turn = np.clip(yaw_error / self._max_rotation, -1.0, 1.0)
        return np.array([*move, turn, grip], np.float32)
