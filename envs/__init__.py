"""banana-grasp environments: importing this module registers the Gymnasium ids."""

from __future__ import annotations

import os

# Headless rendering by default. MuJoCo reads MUJOCO_GL when it is imported, so this
# works when banana_grasp.envs is imported before mujoco (otherwise set MUJOCO_GL yourself).
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

from gymnasium.envs.registration import register, registry

from banana_grasp.envs.banana_grasp import BananaGraspEnv
from banana_grasp.envs.expert import ScriptedExpert
from banana_grasp.envs.tasks import POSITION_LAYOUTS, SPLITS, VARIATIONS, Task, task_distribution
from banana_grasp.envs.wrappers import Greyscale

MAX_EPISODE_STEPS = 100

# id suffix -> (variation, split). One id per variation and split that the protocol uses.
ENV_IDS: dict[str, tuple[str, str]] = {
    "BananaGrasp/Lift-v0": ("none", "train"),
    "BananaGrasp/Lift-Color-v0": ("color", "train"),
    "BananaGrasp/Lift-Position-v0": ("position", "train"),
    "BananaGrasp/Lift-Both-v0": ("both", "train"),
    "BananaGrasp/Lift-ColorOrPosition-v0": ("color-or-position", "train"),
    "BananaGrasp/Lift-Color-HeldOut-v0": ("color", "heldout"),
    "BananaGrasp/Lift-Position-HeldOut-v0": ("position", "heldout"),
    "BananaGrasp/Lift-HeldOut-v0": ("both", "heldout"),
}

for _env_id, (_variation, _split) in ENV_IDS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="banana_grasp.envs.banana_grasp:BananaGraspEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs={"variation": _variation, "split": _split},
        )

__all__ = [
    "ENV_IDS",
    "MAX_EPISODE_STEPS",
    "POSITION_LAYOUTS",
    "SPLITS",
    "VARIATIONS",
    "BananaGraspEnv",
    "Greyscale",
    "ScriptedExpert",
    "Task",
    "task_distribution",
]
