"""banana-grasp environments: importing this module registers the Gymnasium ids.

Headless rendering: MuJoCo picks its OpenGL backend from the ``MUJOCO_GL`` environment
variable once, when ``mujoco`` is first imported. So that rendering works on a machine
without a display (a server, CI) with no set-up, importing this module sets
``MUJOCO_GL=egl`` when all of these hold: ``mujoco`` is not imported yet (afterwards the
variable would have no effect), ``MUJOCO_GL`` is not set, the platform is Linux (the only
one with EGL; elsewhere MuJoCo rejects ``egl``), and neither ``DISPLAY`` nor
``WAYLAND_DISPLAY`` is set (with a display, MuJoCo's default, GLFW, works). The variable is
then inherited by subprocesses. Set ``MUJOCO_GL`` yourself (``egl``, ``osmesa`` or ``glfw``)
to choose otherwise; if rendering cannot create an OpenGL context, the env raises an error
that says so.
"""

from __future__ import annotations

import os
import sys


def _default_headless_gl() -> None:
    if (
        "mujoco" not in sys.modules
        and "MUJOCO_GL" not in os.environ
        and sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["MUJOCO_GL"] = "egl"


_default_headless_gl()  # before the imports below, which import mujoco

# isort: split
from gymnasium.envs.registration import register, registry

from banana_grasp.envs.banana_grasp import BananaGraspEnv
from banana_grasp.envs.expert import ScriptedExpert
from banana_grasp.envs.family import Banana, Layout, Measured, TaskFamilyEnv, arguments_of
from banana_grasp.envs.gripper import RobotSettings
from banana_grasp.envs.hidden_side import HiddenSideEnv, HiddenSideTask, hidden_side_space
from banana_grasp.envs.hidden_target import HiddenTargetEnv
from banana_grasp.envs.hidden_target_tasks import HiddenTargetScene, HiddenTargetTask, hidden_target_space
from banana_grasp.envs.tasks import LIFT_SPLITS, POSITION_LAYOUTS, SPLITS, VARIATIONS, Task, task_distribution
from banana_grasp.envs.wrappers import FixedTask, Greyscale, Trial

MAX_EPISODE_STEPS = 100

# id -> (variation, split). One id per variation and split that the protocol uses.
ENV_IDS: dict[str, tuple[str, str]] = {
    "BananaGrasp/Lift-v3": ("none", "train"),
    "BananaGrasp/Lift-Color-v3": ("color", "train"),
    "BananaGrasp/Lift-Position-v3": ("position", "train"),
    "BananaGrasp/Lift-Both-v3": ("both", "train"),
    "BananaGrasp/Lift-ColorOrPosition-v3": ("color-or-position", "train"),
    "BananaGrasp/Lift-Color-HeldOut-v3": ("color", "heldout"),
    "BananaGrasp/Lift-Position-HeldOut-v3": ("position", "heldout"),
    "BananaGrasp/Lift-HeldOut-v3": ("both", "heldout"),
}


# The generalisation matrix's two cells that hold out one factor (banana-grasp 0.15.0): both
# factors vary, held-out colours at training positions and the reverse. Added at v3, the lift
# ids' version; the train and held-out cells are Lift-Both-v3 and Lift-HeldOut-v3.
CELL_ENV_IDS: dict[str, tuple[str, str]] = {
    "BananaGrasp/Lift-NewColor-v3": ("both", "new-color"),
    "BananaGrasp/Lift-NewPosition-v3": ("both", "new-position"),
}


def _older(ids: dict, version: str) -> dict:
    """The same ids, one earlier version: ``...-v3`` -> ``...-v2``."""
    return {env_id.rsplit("-", 1)[0] + "-" + version: value for env_id, value in ids.items()}


# Earlier versions stay registered, to reproduce results that name them: v2 (banana-grasp
# 0.5.0-0.7.0) declares the gripper's position and yaw unbounded; v1 (0.2.0-0.4.0) also steps
# the physics at 2 ms, 20 substeps per env step; v0 (0.1.0) also pays the grasp terms while
# the gripper touches the table.
V2_ENV_IDS: dict[str, tuple[str, str]] = _older(ENV_IDS, "v2")
V1_ENV_IDS: dict[str, tuple[str, str]] = _older(ENV_IDS, "v1")
V0_ENV_IDS: dict[str, tuple[str, str]] = _older(ENV_IDS, "v0")
_UNBOUNDED = {"gripper_bounds": False}
_V1_PHYSICS = {**_UNBOUNDED, "timestep": 0.002, "frame_skip": 20}
_VERSION_KWARGS = {"v3": {}, "v2": _UNBOUNDED, "v1": _V1_PHYSICS, "v0": {**_V1_PHYSICS, "grasp_on_table": True}}
VERSIONS = tuple(_VERSION_KWARGS)
_IDS_BY_VERSION = {"v3": ENV_IDS | CELL_ENV_IDS, "v2": V2_ENV_IDS, "v1": V1_ENV_IDS, "v0": V0_ENV_IDS}

for _env_id, (_variation, _split) in (ENV_IDS | CELL_ENV_IDS | V2_ENV_IDS | V1_ENV_IDS | V0_ENV_IDS).items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="banana_grasp.envs.banana_grasp:BananaGraspEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs={"variation": _variation, "split": _split, **_VERSION_KWARGS[_env_id[-2:]]},
        )


# The hidden-target family (HiddenTargetEnv), id -> split: not a variation of the lift env, so
# not in ENV_IDS. v4 (banana-grasp 0.8.0) bounds the gripper's position and yaw, as the lift
# ids' v3; v3 (0.7.0) pays reach for the nearer banana, grasp and lift for the target
# (shaping="grasp-target"); v2 (0.5.0-0.6.0): all three terms for either banana. All use the
# lift env's v2 physics (4 ms x 10 substeps).
HIDDEN_TARGET_IDS: dict[str, str] = {
    "BananaGrasp/Lift-HiddenTarget-v4": "train",
    "BananaGrasp/Lift-HiddenTarget-HeldOut-v4": "heldout",
}
V3_HIDDEN_TARGET_IDS: dict[str, str] = _older(HIDDEN_TARGET_IDS, "v3")
V2_HIDDEN_TARGET_IDS: dict[str, str] = _older(HIDDEN_TARGET_IDS, "v2")
_HIDDEN_KWARGS = {
    "v4": {"shaping": "grasp-target"},
    "v3": {"shaping": "grasp-target", **_UNBOUNDED},
    "v2": {"shaping": "either", **_UNBOUNDED},
}
for _env_id, _split in (HIDDEN_TARGET_IDS | V3_HIDDEN_TARGET_IDS | V2_HIDDEN_TARGET_IDS).items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="banana_grasp.envs.hidden_target:HiddenTargetEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs={"split": _split, **_HIDDEN_KWARGS[_env_id[-2:]]},
        )


# The hidden-side family (HiddenSideEnv), id -> split: episodes of 50 steps, where a grasp fits
# comfortably (HiddenSideEnv's docstring, Episode End), for quicker trials.
HIDDEN_SIDE_IDS: dict[str, str] = {
    "BananaGrasp/Lift-HiddenSide-v1": "train",
    "BananaGrasp/Lift-HiddenSide-HeldOut-v1": "heldout",
}
HIDDEN_SIDE_EPISODE_STEPS = 50
for _env_id, _split in HIDDEN_SIDE_IDS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="banana_grasp.envs.hidden_side:HiddenSideEnv",
            max_episode_steps=HIDDEN_SIDE_EPISODE_STEPS,
            kwargs={"split": _split},
        )


def env_id(variation: str, split: str, version: str = "v3") -> str:
    """The registered id of a variation and split, e.g. ``env_id("both", "heldout") == "BananaGrasp/Lift-HeldOut-v3"``.

    Raises ValueError, naming the allowed values, for an unknown name or a pair without an id.
    """
    for name, value, allowed in (
        ("variation", variation, VARIATIONS),
        ("split", split, LIFT_SPLITS),
        ("version", version, VERSIONS),
    ):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")
    ids = _IDS_BY_VERSION[version]
    for id_, pair in ids.items():
        if pair == (variation, split):
            return id_
    registered = ", ".join(f"{v}/{s}" for v, s in ids.values())
    raise ValueError(
        f"no registered id for variation {variation!r}, split {split!r}; registered (variation/split): {registered}"
    )


__all__ = [
    "CELL_ENV_IDS",
    "ENV_IDS",
    "HIDDEN_SIDE_EPISODE_STEPS",
    "HIDDEN_SIDE_IDS",
    "HIDDEN_TARGET_IDS",
    "LIFT_SPLITS",
    "MAX_EPISODE_STEPS",
    "POSITION_LAYOUTS",
    "SPLITS",
    "V0_ENV_IDS",
    "V1_ENV_IDS",
    "V2_ENV_IDS",
    "V2_HIDDEN_TARGET_IDS",
    "V3_HIDDEN_TARGET_IDS",
    "VARIATIONS",
    "VERSIONS",
    "Banana",
    "BananaGraspEnv",
    "FixedTask",
    "Greyscale",
    "HiddenSideEnv",
    "HiddenSideTask",
    "HiddenTargetEnv",
    "HiddenTargetScene",
    "HiddenTargetTask",
    "Layout",
    "Measured",
    "RobotSettings",
    "ScriptedExpert",
    "Task",
    "TaskFamilyEnv",
    "Trial",
    "arguments_of",
    "env_id",
    "hidden_side_space",
    "hidden_target_space",
    "task_distribution",
]
