"""The banana-grasp environment: a Cartesian parallel-jaw gripper lifts one banana."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import EzPickle

from banana_grasp.envs.gripper import (
    FALLEN_Z,
    PAD_GAP_OPEN,
    RENDER_SIZE,
    REST_Z,
    GripperEnv,
    adjacent,
    positive_int,
    yaw_quat,
)
from banana_grasp.envs.tasks import VARIATIONS, Task, task_distribution

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


class BananaGraspEnv(GripperEnv, EzPickle):
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

    The space bounds `gripper_pos` and `gripper_yaw` by the joints' ranges, which are also the
    servos' control ranges (x, y in [-0.22, 0.22], z in [0, 0.3], yaw in [-1.65, 1.65]),
    widened by 1 cm (0.01 rad): the joint limits are soft, and a servo driven into its limit
    overshot it by up to 2.3 mm. `finger_opening` lies in [0, 0.1], `finger_contact` and
    `banana_color` in [0, 1], `banana_quat` in [-1, 1]; the banana's position (and so
    `gripper_to_banana`) is unbounded, since a pushed banana can leave the table.

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
    | `gripper_bounds` | `True` | bound `gripper_pos` and `gripper_yaw` in the observation space (`False` in v0-v2: unbounded) |

    ## Version History
    - v3 (banana-grasp 0.8.0): the observation space bounds `gripper_pos` and `gripper_yaw`
      (see Observation Space; the `gripper_bounds` argument is new). The observations
      themselves, dynamics, reward, task spaces and `is_success` are v2's: a v3 rollout is
      identical, float for float, to a v2 one. The v2 ids stay registered with
      `gripper_bounds=False`.
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
        width: int = RENDER_SIZE,
        height: int = RENDER_SIZE,
        camera_name: str = "front",
        timestep: float = 0.004,
        gripper_bounds: bool = True,
    ) -> None:
        if render_size is not None:
            warnings.warn("render_size is deprecated: use width and height", DeprecationWarning, stacklevel=2)
            if (width, height) != (RENDER_SIZE, RENDER_SIZE):
                raise ValueError("give width and height, not render_size (deprecated) as well")
            width = height = positive_int("render_size", render_size)
        # Keywords: a pickle then survives a reordering of this signature.
        EzPickle.__init__(
            self, variation=variation, split=split, position_layout=position_layout, obs_mode=obs_mode,
            pixel_size=pixel_size, camera=camera, pixels_with_proprio=pixels_with_proprio,
            reward_type=reward_type, render_mode=render_mode, frame_skip=frame_skip,
            max_translation=max_translation, max_rotation=max_rotation, lift_height=lift_height,
            reach_weight=reach_weight, grasp_weight=grasp_weight, lift_weight=lift_weight,
            success_weight=success_weight, reset_noise_scale=reset_noise_scale, max_grasp_gap=max_grasp_gap,
            grasp_on_table=grasp_on_table, width=width, height=height, camera_name=camera_name,
            timestep=timestep, gripper_bounds=gripper_bounds,
        )  # fmt: skip
        super().__init__(
            scene="scene.xml", obs_mode=obs_mode, pixel_size=pixel_size, camera=camera,
            pixels_with_proprio=pixels_with_proprio, reward_type=reward_type, render_mode=render_mode,
            frame_skip=frame_skip, max_translation=max_translation, max_rotation=max_rotation,
            lift_height=lift_height, weights=(reach_weight, grasp_weight, lift_weight, success_weight),
            reset_noise_scale=reset_noise_scale, width=width, height=height, camera_name=camera_name,
            timestep=timestep, gripper_bounds=gripper_bounds,
        )  # fmt: skip
        self.tasks = task_distribution(variation, split, position_layout)
        self.variation, self.split = variation, split
        if max_grasp_gap is not None and not 0.0 < max_grasp_gap <= PAD_GAP_OPEN:
            raise ValueError(
                f"max_grasp_gap must be None (any gap) or lie in (0, {PAD_GAP_OPEN}] metres; got {max_grasp_gap!r}"
            )
        self._max_grasp_gap = math.inf if max_grasp_gap is None else float(max_grasp_gap)
        self._grasp_on_table = bool(grasp_on_table)
        m = self.model
        self._banana_qpos = m.joint("banana").qposadr[0]
        self._banana_body = m.body("banana").id
        self._banana_geoms = {i for i in range(m.ngeom) if m.geom_bodyid[i] == self._banana_body}
        self._banana_rgba = m.geom("banana_mesh").id
        self._touch = adjacent([m.sensor_adr[m.sensor(n).id] for n in ("left_touch", "right_touch")])
        self.observation_space = self._make_observation_space()
        self.task: Task | None = None
        self._rest_z = 0.0

    # ----------------------------------------------------------------- spaces
    def _make_observation_space(self) -> spaces.Dict:
        vec = lambda n, low=-np.inf, high=np.inf: spaces.Box(low, high, (n,), np.float32)
        proprio = self._proprio_spaces()
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
        self._start_gripper()
        self.model.geom_rgba[self._banana_rgba, :3] = task.color
        d, q = self.data, self._banana_qpos
        d.qpos[q : q + 3] = (task.x, task.y, REST_Z)
        d.qpos[q + 3 : q + 7] = yaw_quat(task.yaw)
        self._settle()
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
        if self._simulate(action):
            return self._diverged_step()
        obs, to_banana, banana_z, (touch_left, touch_right), gap = self._observe()
        grasped = touch_left > 0 and touch_right > 0
        height = banana_z - self._rest_z
        success = grasped and height >= self._lift_height
        # The reward's grasp: the pads on the banana (within max_grasp_gap if set), and, unless
        # grasp_on_table, the gripper clear of the table (not pressing the banana down on it).
        d = self.data
        held = grasped and gap <= self._max_grasp_gap and (self._grasp_on_table or d.sensordata[self._on_table] == 0)
        dx, dy, dz = to_banana
        reward, terms = self._get_rew(math.sqrt(dx * dx + dy * dy + dz * dz), held, height, success)
        self._last_obs = obs
        info = self._info(success, terms, diverged=False)
        return obs, reward, banana_z < FALLEN_Z, False, info

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
        gap = max(PAD_GAP_OPEN - (left + right), 0.0)
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
