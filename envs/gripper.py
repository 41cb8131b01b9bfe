"""The one robot of every banana-grasp env: a Cartesian parallel-jaw gripper above a table.

It owns what no task family changes: the gripper and the table of the MJCF scene, the action
and the servos it drives, the physics settings and their divergence check, the start of an
episode (the gripper home, plus noise), the shaped lift reward, the pixel observation and
rendering. Its keywords are :class:`RobotSettings`. ``family.py`` composes a task family's
bananas, observations and rewards on it (``banana_grasp.py``: one banana; ``hidden_target.py``:
two)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

OBS_MODES = ("state", "pixels")
REWARD_TYPES = ("dense", "sparse")
CAMERAS = ("front", "wrist")
REWARD_TERMS = ("reach", "grasp", "lift", "success")

HOME = np.array([0.0, 0.0, 0.15])  # metres, tool centre point at reset: well clear of any banana
FINGER_TRAVEL = 0.044  # metres each finger moves from open to closed
PAD_GAP_OPEN = 0.088  # metres between the pads when fully open
SETTLE_SECONDS = 0.08  # for a banana to come to rest after it is placed
MAX_TIMESTEP = 0.008  # seconds: at 0.01 the scripted expert held the banana in 71% of episodes (100% up to 0.008)
FALLEN_Z = -0.05  # metres; below this a banana has left the table
REST_Z = 0.0185  # metres, the height a banana is placed at: just above the table, it settles onto it
HAND = ("hand_x", "hand_y", "hand_z", "hand_yaw")  # joints and their servos, in action order
FINGERS = ("left_finger", "right_finger")  # joints and their servos
RENDER_SIZE = 256  # pixels, default side of the frames render() returns


def load_model(scene: str = "scene.xml") -> mujoco.MjModel:
    """Compile an MJCF scene of ``assets/`` (files located with importlib.resources)."""
    with resources.as_file(resources.files("banana_grasp.assets") / scene) as path:
        return mujoco.MjModel.from_xml_path(str(path))


def adjacent(indices: list[int]) -> slice:
    """A slice over indices that MuJoCo lays out next to each other (cheaper than fancy indexing)."""
    if list(indices) != list(range(indices[0], indices[0] + len(indices))):
        raise RuntimeError(f"scene layout changed: expected adjacent indices, got {indices}")
    return slice(int(indices[0]), int(indices[0]) + len(indices))


def positive_int(name: str, value: Any) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


JOINT_LIMIT_SLACK = 0.01  # metres (radians for the yaw): MuJoCo's joint limits are soft; a servo
# driven to its limit overshot it by up to 2.3 mm (300 episodes of random and biased actions)


def proprio_spaces(model: mujoco.MjModel | None = None) -> dict[str, spaces.Box]:
    """The gripper's part of a state observation (and of a pixel one with proprioception).

    Given the model, the gripper's position and yaw are bounded by its joints' ranges (which
    are also the servos' control ranges) widened by ``JOINT_LIMIT_SLACK``; without it they are
    unbounded, as in the ids before the lift ``-v3`` and hidden-target ``-v4``.
    """
    if model is None:
        pos = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        yaw = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    else:
        low, high = np.array([model.joint(name).range for name in HAND]).T
        low, high = (low - JOINT_LIMIT_SLACK).astype(np.float32), (high + JOINT_LIMIT_SLACK).astype(np.float32)
        pos, yaw = spaces.Box(low[:3], high[:3], dtype=np.float32), spaces.Box(low[3:], high[3:], dtype=np.float32)
    return {
        "gripper_pos": pos,
        "gripper_yaw": yaw,
        "finger_opening": spaces.Box(0.0, 0.1, (1,), np.float32),
        "finger_contact": spaces.Box(0.0, 1.0, (2,), np.float32),
    }


@dataclass(frozen=True)
class RobotSettings:
    """The robot's keywords, each a keyword of every family env's constructor, with their defaults
    (the Arguments table of each env's docstring says what each does). Checked by ``GripperEnv``."""

    obs_mode: str = "state"
    pixel_size: int = 64
    camera: str = "front"
    pixels_with_proprio: bool = False
    reward_type: str = "dense"
    render_mode: str | None = None
    frame_skip: int = 10
    max_translation: float = 0.02  # metres per step at full action
    max_rotation: float = 0.1  # radians per step at full action
    lift_height: float = 0.05  # metres above rest that count as lifted
    reach_weight: float = 1.0
    grasp_weight: float = 1.0
    lift_weight: float = 2.0
    success_weight: float = 2.0
    reset_noise_scale: float = 0.01  # metres
    width: int = RENDER_SIZE
    height: int = RENDER_SIZE
    camera_name: str = "front"
    timestep: float = 0.004  # seconds
    gripper_bounds: bool = True

    @classmethod
    def of(cls, arguments: Mapping[str, Any]) -> RobotSettings:
        """The settings among a family constructor's ``arguments`` (the others are the family's own)."""
        return cls(**{field.name: arguments[field.name] for field in fields(cls) if field.name in arguments})


class GripperEnv(gym.Env):
    """The gripper, the action, the physics settings and rendering of a banana-grasp env.

    ``family.TaskFamilyEnv`` builds on it: it loads its scene through ``__init__``, places its
    bananas in ``reset`` between ``_start_gripper`` and ``_settle`` (which calls its
    ``_check_clear``: is the placed scene free of collisions?), steps with ``_simulate`` and
    pays the lift reward with ``_get_rew``.
    """

    # render_fps depends on frame_skip: each instance sets it from dt, as Gymnasium's MuJoCo v5 envs do.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(self, scene_file: str, settings: RobotSettings) -> None:
        obs_mode, pixel_size, camera = settings.obs_mode, settings.pixel_size, settings.camera
        reward_type, render_mode, frame_skip = settings.reward_type, settings.render_mode, settings.frame_skip
        width, height, camera_name, timestep = settings.width, settings.height, settings.camera_name, settings.timestep
        for name, value, allowed in (
            ("obs_mode", obs_mode, OBS_MODES),
            ("reward_type", reward_type, REWARD_TYPES),
            ("camera", camera, CAMERAS),
            ("camera_name", camera_name, CAMERAS),
            ("render_mode", render_mode, (None, *self.metadata["render_modes"])),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}")
        for name, value in (
            ("pixel_size", pixel_size),
            ("width", width),
            ("height", height),
            ("frame_skip", frame_skip),
        ):
            positive_int(name, value)
        self._obs_mode, self._pixel_size, self._camera = obs_mode, int(pixel_size), camera
        self._with_proprio = settings.pixels_with_proprio
        self._sparse = reward_type == "sparse"
        self.render_mode, self._render_args = render_mode, (int(width), int(height), camera_name)
        self._frame_skip = int(frame_skip)
        max_translation, max_rotation = settings.max_translation, settings.max_rotation
        self._max_translation, self._max_rotation = max_translation, max_rotation
        self._lift_height = settings.lift_height
        self._weights = (settings.reach_weight, settings.grasp_weight, settings.lift_weight, settings.success_weight)
        reset_noise_scale = settings.reset_noise_scale
        if not 0.0 <= reset_noise_scale <= 0.05:
            raise ValueError(f"reset_noise_scale must lie in [0, 0.05] metres; got {reset_noise_scale!r}")
        self._reset_noise = reset_noise_scale
        self._gripper_bounds = bool(settings.gripper_bounds)
        if not (isinstance(timestep, (int, float)) and 0.0 < timestep <= MAX_TIMESTEP):
            raise ValueError(f"timestep must be a number in (0, {MAX_TIMESTEP}] seconds; got {timestep!r}")

        self.model = load_model(scene_file)
        self.model.opt.timestep = float(timestep)
        self._settle_substeps = max(1, round(SETTLE_SECONDS / timestep))
        self.data = mujoco.MjData(self.model)
        self.dt = self.model.opt.timestep * self._frame_skip
        self.metadata = {**self.metadata, "render_fps": round(1 / self.dt)}
        m = self.model
        framebuffer = {"width": m.vis.global_.offwidth, "height": m.vis.global_.offheight}
        for name, value, limit in (
            ("pixel_size", pixel_size, min(framebuffer.values())),
            ("width", width, framebuffer["width"]),
            ("height", height, framebuffer["height"]),
        ):
            if value > limit:
                raise ValueError(f"{name} must be at most {limit} (scene.xml's offscreen framebuffer); got {value!r}")
        # Named lookups happen once, here; step() only indexes arrays.
        self._hand_qpos = adjacent([m.joint(n).qposadr[0] for n in HAND])
        self._yaw_qpos = slice(self._hand_qpos.stop - 1, self._hand_qpos.stop)
        self._finger_qpos = adjacent([m.joint(n).qposadr[0] for n in FINGERS])
        self._hand_ctrl = adjacent([m.actuator(n).id for n in HAND])
        self._finger_ctrl = adjacent([m.actuator(n).id for n in FINGERS])
        self._servo_ctrl = adjacent([m.actuator(n).id for n in (*HAND, *FINGERS)])
        self._table_geom = m.geom("table").id
        self._on_table = int(m.sensor_adr[m.sensor("hand_on_table").id])
        self._tcp = m.site("tcp").id
        # step() works on Python floats: numpy's per-call cost dwarfs the arithmetic on 4-vectors.
        low, high = m.actuator_ctrlrange[self._hand_ctrl].T.tolist()
        self._ctrl_args = ((max_translation,) * 3 + (max_rotation,), low, high)  # scale, low, high per servo
        self._n_fingers = len(FINGERS)
        self._divergence_warnings = adjacent(
            [
                int(w)
                for w in (
                    mujoco.mjtWarning.mjWARN_BADQPOS,
                    mujoco.mjtWarning.mjWARN_BADQVEL,
                    mujoco.mjtWarning.mjWARN_BADQACC,
                )
            ]
        )
        self._warning_counts = self.data.warning.number  # a view into mjData: read without lookups

        self.action_space = spaces.Box(-1.0, 1.0, (5,), np.float32)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}

    def _proprio_spaces(self) -> dict[str, spaces.Box]:
        return proprio_spaces(self.model if self._gripper_bounds else None)

    # ------------------------------------------------------------ episodes
    def _start_gripper(self) -> None:
        """Reset the physics and put the open gripper home, plus start noise drawn from np_random."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        # Start noise on the gripper only (not a task factor): repeated episodes of one task differ.
        home = HOME + self.np_random.uniform(-self._reset_noise, self._reset_noise, 3)
        d.qpos[self._hand_qpos.start : self._hand_qpos.start + 3] = home
        d.ctrl[self._hand_ctrl] = (*home, 0.0)
        d.ctrl[self._finger_ctrl] = 0.0

    def _settle(self) -> None:
        """Once the bananas are placed: check the scene is clear, then let them come to rest."""
        m, d = self.model, self.data
        mujoco.mj_forward(m, d)
        self._check_clear()
        mujoco.mj_step(m, d, nstep=self._settle_substeps)
        self._warning_counts[self._divergence_warnings] = 0  # _simulate() reads any count as a divergence

    def _check_clear(self) -> None:
        raise NotImplementedError  # the family env's: it knows which geoms are its bananas

    def _hand_table_contact(self) -> np.float64:
        """How many contacts the gripper has with the table (a sensor reading, read when asked)."""
        return self.data.sensordata[self._on_table]

    def _get_rew(self, distance: float, held: bool, height: float, success: bool) -> tuple[float, dict[str, float]]:
        """The lift reward and its terms (``REWARD_TERMS``), from the reach distance, whether a banana
        is held, the held banana's height above rest and whether the task is solved (the family
        says which banana)."""
        if self._sparse:
            terms = {"reach": 0.0, "grasp": 0.0, "lift": 0.0, "success": float(success)}
            return float(success), terms
        reach_w, grasp_w, lift_w, success_w = self._weights
        reach = reach_w * (1.0 - math.tanh(10.0 * distance))
        grasp = grasp_w * held
        raised = height / self._lift_height
        lift = lift_w * held * (0.0 if raised < 0.0 else 1.0 if raised > 1.0 else raised)  # noqa: FURB136
        won = success_w * success
        return reach + grasp + lift + won, {"reach": reach, "grasp": grasp, "lift": lift, "success": won}

    def _simulate(self, action: np.ndarray) -> bool:
        """Check the action, move the servo targets and step the physics; True if it diverged."""
        m, d = self.model, self.data
        action = np.asarray(action)
        if action.shape != (5,):
            raise ValueError(f"action must have shape (5,) (dx, dy, dz, dyaw, grip); got shape {action.shape}")
        a = action.tolist()
        if not math.isfinite(a[0] + a[1] + a[2] + a[3] + a[4]):
            raise ValueError(f"action must be finite (in [-1, 1]); got {action}")
        # Servo targets move relative to the measured pose (no target wind-up against the table).
        # (Conditional expressions: a third of the cost of min/max calls, the same values.)
        targets = []
        for h, u, scale, low, high in zip(d.qpos[self._hand_qpos].tolist(), a, *self._ctrl_args):
            t = h + (-1.0 if u < -1.0 else 1.0 if u > 1.0 else u) * scale  # noqa: FURB136
            targets.append(low if t < low else high if t > high else t)  # noqa: FURB136
        grip = a[4]
        grip = -1.0 if grip < -1.0 else 1.0 if grip > 1.0 else grip  # noqa: FURB136
        targets += [(grip + 1.0) * (0.5 * FINGER_TRAVEL)] * self._n_fingers
        d.ctrl[self._servo_ctrl] = targets  # the hand's servos, then the fingers'
        mujoco.mj_step(m, d, nstep=self._frame_skip)

        # The divergence counters are zero between steps (reset and the branch below zero them).
        if sum(self._warning_counts[self._divergence_warnings].tolist()):
            # MuJoCo checks for non-finite or huge state each step and resets diverged data;
            # either way this episode is over. Zero the counters: a reset inside mj_step leaves
            # them at 1, which would hide a second divergence from a caller who steps on.
            self._warning_counts[self._divergence_warnings] = 0
            return True
        return False

    # ------------------------------------------------------------- rendering
    def _pixels(self) -> np.ndarray:
        """The pixel observation: a ``(pixel_size, pixel_size, 3)`` uint8 image from ``camera``."""
        return self._render(self._pixel_size, self._pixel_size, self._camera)

    def _render(self, width: int, height: int, camera: str) -> np.ndarray:
        renderer = self._renderers.get((width, height))
        if renderer is None:
            renderer = self._renderers[width, height] = _make_renderer(self.model, width, height)
        renderer.update_scene(self.data, camera=camera)
        return renderer.render()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._render(*self._render_args)

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


def _make_renderer(model: mujoco.MjModel, width: int, height: int) -> mujoco.Renderer:
    # Mesa's software rasteriser (llvmpipe, read when the first GL context is made) splits each
    # frame across threads; for frames this small that costs more than it saves (64x64 pixel
    # steps: 1,050/s on the calling thread against 743/s threaded, one core). Yours is kept if set.
    os.environ.setdefault("LP_NUM_THREADS", "0")
    try:
        return mujoco.Renderer(model, height, width)
    except Exception as error:  # the sizes are checked in __init__: what fails here is the GL context
        backend = os.environ.get("MUJOCO_GL", "<unset: GLFW, which needs a display>")
        raise RuntimeError(
            f"could not create an OpenGL context to render (MUJOCO_GL={backend}). Without a display, set "
            "MUJOCO_GL=egl (GPU or Mesa's EGL, e.g. Debian's libegl1 libegl-mesa0) or MUJOCO_GL=osmesa "
            "(libosmesa6) before mujoco is imported; with a display, unset it or set MUJOCO_GL=glfw"
        ) from error
