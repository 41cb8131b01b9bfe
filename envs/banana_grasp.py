"""The banana-grasp environment: a Cartesian parallel-jaw gripper lifts one banana."""

from __future__ import annotations

import itertools
import math
import os
import warnings
from importlib import resources
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import EzPickle

from banana_grasp.envs.tasks import VARIATIONS, Task, task_distribution

OBS_MODES = ("state", "pixels")
REWARD_TYPES = ("dense", "sparse")
CAMERAS = ("front", "wrist")

_HOME = np.array([0.0, 0.0, 0.15])  # metres, tool centre point at reset: well clear of any banana
_FINGER_TRAVEL = 0.044  # metres each finger moves from open to closed
_PAD_GAP_OPEN = 0.088  # metres between the pads when fully open
_SETTLE_SECONDS = 0.08  # for the banana to come to rest after it is placed
_MAX_TIMESTEP = 0.008  # seconds: at 0.01 the scripted expert held the banana in 71% of episodes (100% up to 0.008)
_FALLEN_Z = -0.05  # metres; below this the banana has left the table
_HAND = ("hand_x", "hand_y", "hand_z", "hand_yaw")  # joints and their servos, in action order
_FINGERS = ("left_finger", "right_finger")  # joints and their servos
_RENDER_SIZE = 256  # pixels, default side of the frames render() returns

# Layout of the state observation: key -> slice of one flat vector built per step.
_STATE_SIZES = {
    "gripper_pos": 3,
    "gripper_yaw": 1,
    "finger_opening": 1,
    "finger_contact": 2,
    "banana_pos": 3,
    "banana_quat": 4,
    "gripper_to_banana": 3,
    "banana_color": 3,
}
# Python ints (not numpy's): slicing with them is faster, and step() slices 8 times a step.
_STATE_SLICES = {
    key: slice(end - n, end) for (key, n), end in zip(_STATE_SIZES.items(), itertools.accumulate(_STATE_SIZES.values()))
}
_PROPRIO = ("gripper_pos", "gripper_yaw", "finger_opening", "finger_contact")


def load_model() -> mujoco.MjModel:
    """Compile ``assets/scene.xml`` (files located with importlib.resources)."""
    with resources.as_file(resources.files("banana_grasp.assets") / "scene.xml") as path:
        return mujoco.MjModel.from_xml_path(str(path))


def _adjacent(indices: list[int]) -> slice:
    """A slice over indices that MuJoCo lays out next to each other (cheaper than fancy indexing)."""
    if list(indices) != list(range(indices[0], indices[0] + len(indices))):
        raise RuntimeError(f"scene.xml layout changed: expected adjacent indices, got {indices}")
    return slice(int(indices[0]), int(indices[0]) + len(indices))


def _positive_int(name: str, value: Any) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


class BananaGraspEnv(gym.Env, EzPickle):
    r"""
    ## Description
    A parallel-jaw gripper above a table must grasp a banana and lift it at least 5 cm.
    The gripper is Cartesian: three slide joints and a wrist yaw joint driven by position
    servos with gravity compensation, and two fingers driven by position servos with a
    bounded force. The banana is a curved fruit (visual mesh, collision from five capsules
    along its arc) on a free joint. What changes from one episode to the next is the
    *task*: the banana's colour and its pose (x, y, yaw), drawn from the env's
    *variation* and *split* (see `banana_grasp.envs.tasks`).

    ## Action Space
    `Box(-1, 1, (5,), float32)`: `(dx, dy, dz, dyaw, grip)`. The first four move the
    servo targets relative to the current gripper pose, by at most `max_translation`
    metres and `max_rotation` radians per step. `grip` is absolute: -1 fully open, +1
    fully closed (the pads stop on the banana; their force is bounded).

    ## Observation Space
    `obs_mode="state"`: a `Dict` of float32 vectors (world frame, metres and radians):

    | key | shape | meaning |
    |---|---|---|
    | `gripper_pos` | 3 | tool centre point (midway between the fingertips) |
    | `gripper_yaw` | 1 | wrist angle |
    | `finger_opening` | 1 | gap between the pads |
    | `finger_contact` | 2 | 1 where the left / right pad touches the banana |
    | `banana_pos` | 3 | middle of the banana's arc (its grasp point) |
    | `banana_quat` | 4 | banana orientation (w, x, y, z) |
    | `gripper_to_banana` | 3 | `banana_pos - gripper_pos` |
    | `banana_color` | 3 | RGB in [0, 1] |

    `obs_mode="pixels"`: a `Dict` with `pixels`, a `(pixel_size, pixel_size, 3)` uint8
    image from `camera`, plus the first four proprioceptive keys above when
    `pixels_with_proprio=True`. `banana_grasp.envs.Greyscale` turns either mode grey.

    ## Rewards
    `reward_type="dense"`: the sum of four terms, each in `info["reward_terms"]` and as a flat
    key `info["reward_<term>"]` (as Gymnasium's MuJoCo v5 envs, so that SB3's
    `Monitor(info_keywords=("reward_reach", ...))` logs them):
    - `reach`: `reach_weight * (1 - tanh(10 * distance(gripper, banana)))`;
    - `grasp`: `grasp_weight` while both pads touch the banana and no part of the gripper
      touches the table (`grasp_on_table=True` drops that condition; `max_grasp_gap`, if set,
      also bounds the gap between the pads);
    - `lift`: `lift_weight * min(height gained / lift_height, 1)` while the `grasp` term is paid;
    - `success`: `success_weight` while the task is solved.
    `reward_type="sparse"`: 1 while the task is solved, else 0 (the other terms are 0).
    `info["is_success"]` is True while both pads touch the banana and it is at least
    `lift_height` above its resting height (a height test alone is fooled: pushes can
    tip a banana up by several centimetres).

    ## Starting State
    The gripper starts open with yaw 0 at (0, 0, 0.15) plus uniform noise of
    +-`reset_noise_scale` metres on each axis (so repeated episodes of one task differ;
    the noise is not part of the task). The banana is placed at the task's
    pose and left to settle for 80 ms; its height then is its resting height. The task is
    `options["task"]` if given to `reset` (it must belong to the env's variation and
    split), else sampled from them with `self.np_random`. `info["task"]` reports it.

    ## Episode End
    Truncation after 100 steps (0.04 s each) for the registered ids. Termination if the
    banana falls off the table or the physics diverges; divergence sets
    `info["physics_diverged"] = True` and returns the last finite observation. Success
    does not end the episode: the banana must still be held at the end.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `variation` | `"none"` | `none`, `color`, `position`, `both`, `color-or-position` |
    | `split` | `"train"` | `train` or `heldout` space for the varying factors |
    | `position_layout` | `"interleaved"` | `interleaved` or `extrapolate` position split |
    | `obs_mode` | `"state"` | `state` or `pixels` |
    | `pixel_size` | `64` | side of the square pixel observation |
    | `camera` | `"front"` | `front` or `wrist`, for pixel observations |
    | `pixels_with_proprio` | `False` | add proprioception to pixel observations |
    | `reward_type` | `"dense"` | `dense` or `sparse` |
    | `render_mode` | `None` | `None` or `"rgb_array"` |
    | `render_size` | `None` | deprecated: sets `width` and `height` to this one value |
    | `frame_skip` | `10` | physics steps per env step (`dt = timestep * frame_skip`; `metadata["render_fps"]` is `round(1 / dt)`) |
    | `max_translation` | `0.02` | metres per step at full action |
    | `max_rotation` | `0.1` | radians per step at full action |
    | `lift_height` | `0.05` | metres above rest that count as lifted |
    | `reach_weight`, `grasp_weight`, `lift_weight`, `success_weight` | 1, 1, 2, 2 | dense reward weights |
    | `reset_noise_scale` | `0.01` | metres of uniform noise on the gripper's start position, in [0, 0.05] |
    | `grasp_on_table` | `False` | pay the `grasp` and `lift` terms while the gripper touches the table too (v0) |
    | `max_grasp_gap` | `None` | metres; if set, the widest pad gap at which the reward counts a grasp (the banana is 3.5 cm wide) |
    | `width`, `height` | `256`, `256` | size in pixels of the frames `render()` returns, at most 640 |
    | `camera_name` | `"front"` | `front` or `wrist`, the camera `render()` uses |
    | `timestep` | `0.004` | seconds per physics step, in (0, 0.008] (v1 and v0: 0.002 with `frame_skip=20`) |

    ## Version History
    - v2 (banana-grasp 0.5.0): the physics steps at 4 ms, 10 substeps per env step (v1: 2 ms,
      20 substeps), so an env step is still 0.04 s of simulated time and costs about half as
      much; the `timestep` argument is new and `frame_skip` defaults to 10. The scripted
      expert's success and PPO's steps to 90% were measured unchanged (results/NOTES.md,
      "An env as fast as its physics"). Reward, observations, task spaces and `is_success`
      are unchanged. The v1 ids stay registered with `timestep=0.002, frame_skip=20`.
    - v1 (banana-grasp 0.2.0): the `grasp` and `lift` terms are not paid while the gripper
      touches the table. With PPO, about 1 seed in 10 settled on a v0 local optimum: pads on
      the banana, gripper pressed onto the table (the action's dz saturated at -1), earning
      reach and grasp every step without ever lifting, since noise on a saturated dz never
      tries going up. New arguments `grasp_on_table` (True in v0) and `max_grasp_gap`
      (off). Dynamics, observations, task spaces and `is_success` are unchanged; a contact
      sensor `hand_on_table` was added to the model. The v0 ids stay registered
      (`grasp_on_table=True`, and v1's physics) to reproduce results of banana-grasp 0.1.0.
    - v0 (banana-grasp 0.1.0): initial release.

    Changes that keep the ids (no change to dynamics, reward, observations or task spaces):
    banana-grasp 0.3.0 adds the flat `info["reward_<term>"]` keys, the `width`, `height` and
    `camera_name` rendering keywords and a per-instance `metadata["render_fps"]`.
    """

    # render_fps depends on frame_skip: each instance sets it from dt, as Gymnasium's MuJoCo v5 envs do.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        variation: str = "none",
        split: str = "train",
        position_layout: str = "interleaved",
        obs_mode: str = "state",
        pixel_size: int = 64,
        camera: str = "front",
        pixels_with_proprio: bool = False,
        reward_type: str = "dense",
        render_mode: str | None = None,
        render_size: int | None = None,
        frame_skip: int = 10,
        max_translation: float = 0.02,
        max_rotation: float = 0.1,
        lift_height: float = 0.05,
        reach_weight: float = 1.0,
        grasp_weight: float = 1.0,
        lift_weight: float = 2.0,
        success_weight: float = 2.0,
        reset_noise_scale: float = 0.01,
        max_grasp_gap: float | None = None,
        grasp_on_table: bool = False,
        # New arguments go last: pickles made before EzPickle got keywords pass them by position.
        width: int = _RENDER_SIZE,
        height: int = _RENDER_SIZE,
        camera_name: str = "front",
        timestep: float = 0.004,
    ) -> None:
        if render_size is not None:
            warnings.warn("render_size is deprecated: use width and height", DeprecationWarning, stacklevel=2)
            if (width, height) != (_RENDER_SIZE, _RENDER_SIZE):
                raise ValueError("give width and height, not render_size (deprecated) as well")
            width = height = _positive_int("render_size", render_size)
        # Keywords: a pickle then survives a reordering of this signature.
        EzPickle.__init__(
            self, variation=variation, split=split, position_layout=position_layout, obs_mode=obs_mode,
            pixel_size=pixel_size, camera=camera, pixels_with_proprio=pixels_with_proprio,
            reward_type=reward_type, render_mode=render_mode, frame_skip=frame_skip,
            max_translation=max_translation, max_rotation=max_rotation, lift_height=lift_height,
            reach_weight=reach_weight, grasp_weight=grasp_weight, lift_weight=lift_weight,
            success_weight=success_weight, reset_noise_scale=reset_noise_scale, max_grasp_gap=max_grasp_gap,
            grasp_on_table=grasp_on_table, width=width, height=height, camera_name=camera_name,
            timestep=timestep,
        )  # fmt: skip
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
            _positive_int(name, value)
        self.tasks = task_distribution(variation, split, position_layout)
        self.variation, self.split = variation, split
        self._obs_mode, self._pixel_size, self._camera = obs_mode, int(pixel_size), camera
        self._with_proprio = pixels_with_proprio
        self._sparse = reward_type == "sparse"
        self.render_mode, self._render_args = render_mode, (int(width), int(height), camera_name)
        self._frame_skip = int(frame_skip)
        self._max_translation, self._max_rotation = max_translation, max_rotation
        self._lift_height = lift_height
        self._weights = (reach_weight, grasp_weight, lift_weight, success_weight)
        if not 0.0 <= reset_noise_scale <= 0.05:
            raise ValueError(f"reset_noise_scale must lie in [0, 0.05] metres; got {reset_noise_scale!r}")
        self._reset_noise = reset_noise_scale
        if max_grasp_gap is not None and not 0.0 < max_grasp_gap <= _PAD_GAP_OPEN:
            raise ValueError(
                f"max_grasp_gap must be None (any gap) or lie in (0, {_PAD_GAP_OPEN}] metres; got {max_grasp_gap!r}"
            )
        self._max_grasp_gap = math.inf if max_grasp_gap is None else float(max_grasp_gap)
        self._grasp_on_table = bool(grasp_on_table)

        if not (isinstance(timestep, (int, float)) and 0.0 < timestep <= _MAX_TIMESTEP):
            raise ValueError(f"timestep must be a number in (0, {_MAX_TIMESTEP}] seconds; got {timestep!r}")
        self.model = load_model()
        self.model.opt.timestep = float(timestep)
        self._settle_substeps = max(1, round(_SETTLE_SECONDS / timestep))
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
        self._hand_qpos = _adjacent([m.joint(n).qposadr[0] for n in _HAND])
        self._yaw_qpos = slice(self._hand_qpos.stop - 1, self._hand_qpos.stop)
        self._finger_qpos = _adjacent([m.joint(n).qposadr[0] for n in _FINGERS])
        self._hand_ctrl = _adjacent([m.actuator(n).id for n in _HAND])
        self._finger_ctrl = _adjacent([m.actuator(n).id for n in _FINGERS])
        self._servo_ctrl = _adjacent([m.actuator(n).id for n in (*_HAND, *_FINGERS)])
        self._banana_qpos = m.joint("banana").qposadr[0]
        self._banana_body = m.body("banana").id
        self._banana_geoms = {i for i in range(m.ngeom) if m.geom_bodyid[i] == self._banana_body}
        self._table_geom = m.geom("table").id
        self._banana_rgba = m.geom("banana_mesh").id
        self._touch = _adjacent([m.sensor_adr[m.sensor(n).id] for n in ("left_touch", "right_touch")])
        self._on_table = int(m.sensor_adr[m.sensor("hand_on_table").id])
        self._tcp = m.site("tcp").id
        # step() works on Python floats: numpy's per-call cost dwarfs the arithmetic on 4-vectors.
        low, high = m.actuator_ctrlrange[self._hand_ctrl].T.tolist()
        self._ctrl_args = ((max_translation,) * 3 + (max_rotation,), low, high)  # scale, low, high per servo
        self._n_fingers = len(_FINGERS)
        self._divergence_warnings = _adjacent(
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
        self.observation_space = self._make_observation_space()
        self.task: Task | None = None
        self._rest_z = 0.0
        self._last_obs: dict[str, np.ndarray] | None = None
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}

    # ----------------------------------------------------------------- spaces
    def _make_observation_space(self) -> spaces.Dict:
        vec = lambda n, low=-np.inf, high=np.inf: spaces.Box(low, high, (n,), np.float32)
        proprio = {
            "gripper_pos": vec(3),
            "gripper_yaw": vec(1),
            "finger_opening": vec(1, 0.0, 0.1),
            "finger_contact": vec(2, 0.0, 1.0),
        }
        if self._obs_mode == "pixels":
            size = self._pixel_size
            image = {"pixels": spaces.Box(0, 255, (size, size, 3), np.uint8)}
            return spaces.Dict({**image, **proprio} if self._with_proprio else image)
        return spaces.Dict(
            {
                **proprio,
                "banana_pos": vec(3),
                "banana_quat": vec(4, -1.0, 1.0),
                "gripper_to_banana": vec(3),
                "banana_color": vec(3, 0.0, 1.0),
            }
        )

    # -------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        task = options.get("task")
        if task is None:
            task = self.tasks.sample(self.np_random)
        elif not isinstance(task, Task):
            raise ValueError(f"options['task'] must be a banana_grasp.envs.Task; got {type(task).__name__}")
        elif not self.tasks.contains(task):
            raise ValueError(
                f"{task} cannot be produced by variation {self.variation!r}, split {self.split!r}; "
                f"use an env whose variation and split contain it (variations: {', '.join(VARIATIONS)})"
            )
        self.task = task
        self._color = np.asarray(task.color)
        self._color_list = self._color.tolist()
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        m.geom_rgba[self._banana_rgba, :3] = task.color
        # Start noise on the gripper only (not a task factor): repeated episodes of one task differ.
        home = _HOME + self.np_random.uniform(-self._reset_noise, self._reset_noise, 3)
        d.qpos[self._hand_qpos.start : self._hand_qpos.start + 3] = home
        q = self._banana_qpos
        d.qpos[q : q + 3] = (task.x, task.y, 0.0185)  # just above the table: it settles onto it
        d.qpos[q + 3 : q + 7] = _yaw_quat(task.yaw)
        d.ctrl[self._hand_ctrl] = (*home, 0.0)
        d.ctrl[self._finger_ctrl] = 0.0
        mujoco.mj_forward(m, d)
        self._check_clear()
        mujoco.mj_step(m, d, nstep=self._settle_substeps)
        self._warning_counts[self._divergence_warnings] = 0  # step() reads any count as a divergence
        self._rest_z = float(d.qpos[q + 2])
        self._last_obs = self._get_obs()
        return self._last_obs, {"task": task, "is_success": False}

    def _check_clear(self) -> None:
        # Reset-time only: a banana that starts inside another body is a bad task.
        d = self.data
        for contact in d.contact[: d.ncon] if d.ncon else ():
            pair = set(contact.geom)
            if pair & self._banana_geoms and not pair <= self._banana_geoms | {self._table_geom}:
                raise ValueError(f"{self.task} places the banana in collision with the gripper")

    def step(self, action):
        if self.task is None:
            raise ResetNeeded("call reset() before step(): the episode's task is drawn at reset")
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
        targets += [(grip + 1.0) * (0.5 * _FINGER_TRAVEL)] * self._n_fingers
        d.ctrl[self._servo_ctrl] = targets  # the hand's servos, then the fingers'
        mujoco.mj_step(m, d, nstep=self._frame_skip)

        # The divergence counters are zero between steps (reset and the branch below zero them).
        if sum(self._warning_counts[self._divergence_warnings].tolist()):
            # MuJoCo checks for non-finite or huge state each step and resets diverged data;
            # either way this episode is over. Zero the counters: a reset inside mj_step leaves
            # them at 1, which would hide a second divergence from a caller who steps on.
            self._warning_counts[self._divergence_warnings] = 0
            terms = dict.fromkeys(("reach", "grasp", "lift", "success"), 0.0)
            info = self._info(False, terms, diverged=True)
            # A copy: the previous step returned these very arrays, and callers may keep them.
            return {k: v.copy() for k, v in self._last_obs.items()}, 0.0, True, False, info

        obs, to_banana, banana_z, (touch_left, touch_right), gap = self._observe()
        grasped = touch_left > 0 and touch_right > 0
        height = banana_z - self._rest_z
        success = grasped and height >= self._lift_height
        # The reward's grasp: the pads on the banana (within max_grasp_gap if set), and, unless
        # grasp_on_table, the gripper clear of the table (not pressing the banana down on it).
        held = grasped and gap <= self._max_grasp_gap and (self._grasp_on_table or d.sensordata[self._on_table] == 0)
        reward, terms = self._get_rew(held, height, success, to_banana)
        self._last_obs = obs
        info = self._info(success, terms, diverged=False)
        return obs, reward, banana_z < _FALLEN_Z, False, info

    def _info(self, success: bool, terms: dict[str, float], diverged: bool) -> dict[str, Any]:
        # The terms twice: as one dict, and as flat keys that Monitor(info_keywords=...) can log.
        return {
            "task": self.task,
            "is_success": success,
            "reward_terms": terms,
            "reward_reach": terms["reach"],
            "reward_grasp": terms["grasp"],
            "reward_lift": terms["lift"],
            "reward_success": terms["success"],
            "physics_diverged": diverged,
        }

    def _get_rew(
        self, grasped: bool, height: float, success: bool, to_banana: tuple[float, float, float]
    ) -> tuple[float, dict[str, float]]:
        if self._sparse:
            terms = {"reach": 0.0, "grasp": 0.0, "lift": 0.0, "success": float(success)}
            return float(success), terms
        reach_w, grasp_w, lift_w, success_w = self._weights
        dx, dy, dz = to_banana
        reach = reach_w * (1.0 - math.tanh(10.0 * math.sqrt(dx * dx + dy * dy + dz * dz)))
        grasp = grasp_w * grasped
        raised = height / self._lift_height
        lift = lift_w * grasped * (0.0 if raised < 0.0 else 1.0 if raised > 1.0 else raised)  # noqa: FURB136
        won = success_w * success
        return reach + grasp + lift + won, {"reach": reach, "grasp": grasp, "lift": lift, "success": won}

    def _get_obs(self) -> dict[str, np.ndarray]:
        return self._observe()[0]

    def _observe(
        self,
    ) -> tuple[dict[str, np.ndarray], tuple[float, float, float], float, tuple[float, float], float]:
        """The observation, and what the reward uses too: the float64 gripper-to-banana vector,
        the banana's height, the two pads' contact counts (read once a step) and the gap
        between the pads.

        Built from Python floats and cast to float32 once: on vectors this small, each numpy
        call costs more than the arithmetic (this is the env's hot path, see bench_env.py).
        """
        d = self.data
        qpos = d.qpos.tolist()  # one read: the hand, the fingers and the banana
        gx, gy, gz = d.site_xpos[self._tcp].tolist()
        q = self._banana_qpos
        banana = qpos[q : q + 7]
        to_banana = (banana[0] - gx, banana[1] - gy, banana[2] - gz)
        left, right = qpos[self._finger_qpos]
        # Pads pressed together overlap by up to ~0.2 mm (soft joint limits): clip, so
        # the gap stays in its declared space [0, 0.1].
        gap = max(_PAD_GAP_OPEN - (left + right), 0.0)
        touch_left, touch_right = d.sensordata[self._touch].tolist()
        flat = np.array(
            [
                gx, gy, gz,
                qpos[self._yaw_qpos.start],
                gap,
                1.0 if touch_left > 1.0 else touch_left, 1.0 if touch_right > 1.0 else touch_right,  # noqa: FURB136
                *banana,
                *to_banana,
                *self._color_list,
            ],
            dtype=np.float32,
        )  # fmt: skip
        # The dict holds views of this fresh array: nothing returned earlier is overwritten.
        obs = {key: flat[s] for key, s in _STATE_SLICES.items()}
        if self._obs_mode == "pixels":
            pixels = {"pixels": self._render(self._pixel_size, self._pixel_size, self._camera)}
            obs = {**pixels, **{k: obs[k] for k in _PROPRIO}} if self._with_proprio else pixels
        return obs, to_banana, banana[2], (touch_left, touch_right), gap

    def state_observation(self) -> dict[str, np.ndarray]:
        """The privileged state observation, whatever ``obs_mode`` is (for scripted experts)."""
        if self.task is None:
            raise ResetNeeded("call reset() before state_observation()")
        mode, self._obs_mode = self._obs_mode, "state"
        try:
            return self._get_obs()
        finally:
            self._obs_mode = mode

    # ------------------------------------------------------------- rendering
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
