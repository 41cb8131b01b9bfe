"""The hidden-target environment: two bananas on the table, and only one of them pays."""

from __future__ import annotations

import itertools
import math
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
    yaw_quat,
)
from banana_grasp.envs.tasks import (
    SLOTS,
    HiddenTargetScene,
    HiddenTargetTask,
    hidden_target_space,
)

# Which banana the shaped reward terms are paid for: reach, then grasp and lift.
SHAPINGS = {"either": ("either", "either"), "target": ("target", "target"), "grasp-target": ("either", "target")}
# The scene's names for the bananas of slots a and b (scene_two_bananas.xml).
_BODIES = {"a": "banana", "b": "banana_b"}
_MESHES = {"a": "banana_mesh", "b": "banana_b_mesh"}
_TOUCH = {"a": ("left_touch", "right_touch"), "b": ("left_touch_b", "right_touch_b")}

_PROPRIO_SIZES = {"gripper_pos": 3, "gripper_yaw": 1, "finger_opening": 1, "finger_contact": 2}
_BANANA_SIZES = {"pos": 3, "quat": 4, "to": 3, "color": 3}  # per slot, in this order (qpos gives pos and quat)


def _banana_key(part: str, slot: str) -> str:
    return f"gripper_to_banana_{slot}" if part == "to" else f"banana_{slot}_{part}"


# Layout of the state observation: key -> slice of one flat vector built per step.
_STATE_SIZES = {
    **_PROPRIO_SIZES,
    **{_banana_key(part, slot): n for slot in SLOTS for part, n in _BANANA_SIZES.items()},
}
_STATE_SLICES = {
    key: slice(end - n, end) for (key, n), end in zip(_STATE_SIZES.items(), itertools.accumulate(_STATE_SIZES.values()))
}
# A slot's keys by part -> the lift env's key of its one banana.
_LIFT_KEYS = {"pos": "banana_pos", "quat": "banana_quat", "to": "gripper_to_banana", "color": "banana_color"}


class HiddenTargetEnv(GripperEnv, EzPickle):
    r"""
    ## Description
    Two bananas of different colours lie side by side on the table under the lift env's
    gripper (`BananaGraspEnv`). One of them is the target: success is lifting it at least
    5 cm. Which one is decided by the *task*, a hidden rule, `HiddenTargetTask(target_hue)`:
    the banana whose hue lies within 0.02 of `target_hue` pays. The observation shows both
    bananas, their poses and colours, but never which one is the target (as Meta-World's ML
    benchmarks zero the goal out of the observation, and as in Harlow's two-object task,
    where only the reward tells which object pays). Each reset draws a fresh *scene* for
    the rule: the target's colour, a decoy of another colour, and their poses; which
    observation slot (`a` or `b`) and which of the two places holds the target are random,
    50/50 each. So over several episodes of one task (a trial, see `Trial`) the rule stays
    while the scenes change: a learner must infer the target hue from the rewards of earlier
    episodes. Without memory or adaptation it can only pick a banana: about 50% success.

    Splits (`banana_grasp.envs.tasks.HiddenTargetSpace`): `train` rules have target hues in
    the lift env's train hue bands, `heldout` rules in its held-out bands (each band narrowed
    by 0.02 at both ends, so that the target's colour stays in it); the decoy's hue is drawn
    alike from another band of the same split. The pair's middle lies in the train or the
    held-out cells of a 4 x 4 checkerboard over a 14 cm square (disjoint), its yaw within
    +-39 degrees; the bananas' middles lie 9-10 cm apart across them and up to 2 cm apart
    along them, each yawed up to 0.1 rad off the pair's, so the open gripper (pads 4.4 cm
    either side of its centre) takes either banana clear of the other.

    ## Action Space
    As `BananaGraspEnv`: `Box(-1, 1, (5,), float32)`, `(dx, dy, dz, dyaw, grip)`.

    ## Observation Space
    `obs_mode="state"`: a `Dict` of float32 vectors (world frame, metres and radians):

    | key | shape | meaning |
    |---|---|---|
    | `gripper_pos` | 3 | tool centre point (midway between the fingertips) |
    | `gripper_yaw` | 1 | wrist angle |
    | `finger_opening` | 1 | gap between the pads |
    | `finger_contact` | 2 | 1 where the left / right pad touches a banana (either) |
    | `banana_a_pos` | 3 | middle of banana a's arc (its grasp point) |
    | `banana_a_quat` | 4 | banana a's orientation (w, x, y, z) |
    | `gripper_to_banana_a` | 3 | `banana_a_pos - gripper_pos` |
    | `banana_a_color` | 3 | banana a's RGB in [0, 1] |
    | `banana_b_pos`, `banana_b_quat`, `gripper_to_banana_b`, `banana_b_color` | 3, 4, 3, 3 | the same for banana b |

    The space bounds the gripper's keys as `BananaGraspEnv`'s does (its joints' ranges, widened
    by 1 cm) and the colours and orientations as that env's; the bananas' positions (and the
    gripper-to-banana vectors) are unbounded.

    `obs_mode="pixels"`: as `BananaGraspEnv`'s, `pixels` from `camera` (both bananas in view),
    plus the first four keys above when `pixels_with_proprio=True`.

    ## Rewards
    `reward_type="dense"`: the sum of four terms, each in `info["reward_terms"]` and as a flat
    key `info["reward_<term>"]`, with the lift env's weights: reach for the nearer banana and
    grasp and lift for the target (`shaping="grasp-target"`, the default and the v3 ids), all
    three for either banana (`shaping="either"`, the v2 ids), or all three for the target
    alone (`shaping="target"`):
    - `reach`: `reach_weight * (1 - tanh(10 * distance(gripper, banana)))`, the nearer banana
      (or the target);
    - `grasp`: `grasp_weight` while both pads touch one banana, either (or the target), and no
      part of the gripper touches the table;
    - `lift`: `lift_weight * min(height gained by that banana / lift_height, 1)` while the
      `grasp` term is paid;
    - `success`: `success_weight` while the *target* is lifted.
    `reward_type="sparse"`: 1 while the target is lifted, else 0. A banana is lifted while
    both pads touch it and it is at least `lift_height` above its resting height;
    `info["lifted"]` is the slot of the lifted banana (or None), and `info["is_success"]`
    is True while that is the target's slot.

    Why `grasp-target` is fair and why it is the default. Reach is paid for the nearer
    banana, so approaching tells nothing of the rule, and a learner that cannot know the
    target is still taught to reach. Grasp and lift are paid for the target alone, as
    Meta-World's ML benchmarks shape their reward toward a goal the observation hides: a
    learner that grasps the decoy learns from the missing reward, within the episode, that
    it is not the target; a learner with memory can carry that to the next episode of the
    trial, and one without memory cannot use it. Every learner sees the same reward. Measured
    with this project's learners (results/NOTES.md, "Why the hidden-target learners do not
    learn"): with `either` (all three terms for either banana, the success term the rule's
    one signal, one bit per episode as in Harlow's task), fixed-rule specialists chose a
    banana by its place, not its colour; with `target` (and a shared encoder of the two
    bananas) they learned their rule, but a learner that cannot know the target (multi-task,
    RL^2 within 300k steps) lifted no banana at all, reach pulling it toward a banana it could
    not tell; with `grasp-target` the specialists learned their rule and the multi-task
    learner lifted a banana, either, as it should.

    ## Starting State
    The gripper starts as in `BananaGraspEnv`: open, yaw 0, at (0, 0, 0.15) plus uniform noise
    of +-`reset_noise_scale` metres. The task is `options["task"]` if given to `reset` (a rule
    of the env's split), else sampled from the split with `self.np_random`; the scene is
    `options["scene"]` if given (a `HiddenTargetScene` the split could draw for that rule),
    else drawn with `self.np_random`. The bananas settle for 80 ms; their heights then are
    their resting heights. `info["task"]` reports the rule (every step), `info["scene"]` the
    scene (at reset). Privileged, for scripted experts and analysis: `target_slot`,
    `target_observation()` (the target in the lift env's state format, so that
    `ScriptedExpert().act` lifts it), `banana_observation(slot)` and `state_observation()`.

    ## Episode End
    Truncation after 100 steps (0.04 s each) for the registered ids. Termination if either
    banana falls off the table (either: ending on the target's fall only would reveal it) or
    the physics diverges (`info["physics_diverged"] = True`, the last finite observation).
    Success does not end the episode.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `split` | `"train"` | `train` or `heldout` rules and scenes |
    | `obs_mode` | `"state"` | `state` or `pixels` |
    | `pixel_size` | `64` | side of the square pixel observation |
    | `camera` | `"front"` | `front` or `wrist`, for pixel observations |
    | `pixels_with_proprio` | `False` | add proprioception to pixel observations |
    | `reward_type` | `"dense"` | `dense` or `sparse` |
    | `render_mode` | `None` | `None` or `"rgb_array"` |
    | `frame_skip` | `10` | physics steps per env step |
    | `max_translation` | `0.02` | metres per step at full action |
    | `max_rotation` | `0.1` | radians per step at full action |
    | `lift_height` | `0.05` | metres above rest that count as lifted |
    | `reach_weight`, `grasp_weight`, `lift_weight`, `success_weight` | 1, 1, 2, 2 | dense reward weights |
    | `reset_noise_scale` | `0.01` | metres of uniform noise on the gripper's start position, in [0, 0.05] |
    | `width`, `height` | `256`, `256` | size in pixels of the frames `render()` returns, at most 640 |
    | `camera_name` | `"front"` | `front` or `wrist`, the camera `render()` uses |
    | `timestep` | `0.004` | seconds per physics step, in (0, 0.008] |
    | `shaping` | `"grasp-target"` | `grasp-target`, `either` or `target`: which banana the reach, grasp and lift terms are paid for |
    | `gripper_bounds` | `True` | bound `gripper_pos` and `gripper_yaw` in the observation space (`False` in v2-v3: unbounded) |

    ## Version History
    - v4 (banana-grasp 0.8.0): the observation space bounds `gripper_pos` and `gripper_yaw`,
      as the lift ids' v3 (the `gripper_bounds` argument is new). Observations, reward, task
      spaces and physics are v3's: a v4 rollout is identical, float for float, to a v3 one.
      The v3 ids stay registered with `gripper_bounds=False`.
    - v3 (banana-grasp 0.7.0): `shaping="grasp-target"`: reach for the nearer banana, grasp
      and lift for the target. The observations, task spaces and physics are v2's.
    - v2 (banana-grasp 0.5.0): first version; the lift env's v2 physics (4 ms x 10 substeps);
      reach, grasp and lift for either banana (`shaping="either"`). banana-grasp 0.6.0 adds the
      `shaping` keyword, with `either` the default then.
    """

    def __init__(
        self,
        split: str = "train",
        obs_mode: str = "state",
        pixel_size: int = 64,
        camera: str = "front",
        pixels_with_proprio: bool = False,
        reward_type: str = "dense",
        render_mode: str | None = None,
        frame_skip: int = 10,
        max_translation: float = 0.02,
        max_rotation: float = 0.1,
        lift_height: float = 0.05,
        reach_weight: float = 1.0,
        grasp_weight: float = 1.0,
        lift_weight: float = 2.0,
        success_weight: float = 2.0,
        reset_noise_scale: float = 0.01,
        width: int = RENDER_SIZE,
        height: int = RENDER_SIZE,
        camera_name: str = "front",
        timestep: float = 0.004,
        shaping: str = "grasp-target",
        gripper_bounds: bool = True,
    ) -> None:
        # Keywords: a pickle then survives a reordering of this signature.
        EzPickle.__init__(
            self, split=split, obs_mode=obs_mode, pixel_size=pixel_size, camera=camera,
            pixels_with_proprio=pixels_with_proprio, reward_type=reward_type, render_mode=render_mode,
            frame_skip=frame_skip, max_translation=max_translation, max_rotation=max_rotation,
            lift_height=lift_height, reach_weight=reach_weight, grasp_weight=grasp_weight,
            lift_weight=lift_weight, success_weight=success_weight, reset_noise_scale=reset_noise_scale,
            width=width, height=height, camera_name=camera_name, timestep=timestep, shaping=shaping,
            gripper_bounds=gripper_bounds,
        )  # fmt: skip
        if shaping not in SHAPINGS:
            raise ValueError(f"unknown shaping {shaping!r}; allowed: {', '.join(SHAPINGS)}")
        self._shaping = shaping
        self._reach_for, self._grasp_for = SHAPINGS[shaping]  # looked up once, not every step
        self.tasks = hidden_target_space(split)  # first: an unknown split fails before the model loads
        self.split = split
        super().__init__(
            scene="scene_two_bananas.xml", obs_mode=obs_mode, pixel_size=pixel_size, camera=camera,
            pixels_with_proprio=pixels_with_proprio, reward_type=reward_type, render_mode=render_mode,
            frame_skip=frame_skip, max_translation=max_translation, max_rotation=max_rotation,
            lift_height=lift_height, weights=(reach_weight, grasp_weight, lift_weight, success_weight),
            reset_noise_scale=reset_noise_scale, width=width, height=height, camera_name=camera_name,
            timestep=timestep, gripper_bounds=gripper_bounds,
        )  # fmt: skip
        m = self.model
        # Python ints: step() slices lists with them.
        self._banana_qpos = tuple(int(m.joint(_BODIES[slot]).qposadr[0]) for slot in SLOTS)
        bodies = {m.body(_BODIES[slot]).id for slot in SLOTS}
        self._banana_geoms = {i for i in range(m.ngeom) if m.geom_bodyid[i] in bodies}
        self._banana_rgba = tuple(m.geom(_MESHES[slot]).id for slot in SLOTS)
        # Sensor values, read as one list a step: left and right pad on a, then on b.
        self._touch = tuple(int(m.sensor_adr[m.sensor(name).id]) for slot in SLOTS for name in _TOUCH[slot])
        self.observation_space = self._make_observation_space()
        self.task: HiddenTargetTask | None = None
        self.scene: HiddenTargetScene | None = None
        self._target = "a"
        self._rest_z = (0.0, 0.0)
        self._colors: list[float] = []

    # ----------------------------------------------------------------- spaces
    def _make_observation_space(self) -> spaces.Dict:
        proprio = self._proprio_spaces()
        if self._obs_mode == "pixels":
            size = self._pixel_size
            image = {"pixels": spaces.Box(0, 255, (size, size, 3), np.uint8)}
            return spaces.Dict({**image, **proprio} if self._with_proprio else image)
        bounds = {"pos": (-np.inf, np.inf), "quat": (-1.0, 1.0), "to": (-np.inf, np.inf), "color": (0.0, 1.0)}
        bananas = {
            _banana_key(part, slot): spaces.Box(*bounds[part], (n,), np.float32)
            for slot in SLOTS
            for part, n in _BANANA_SIZES.items()
        }
        return spaces.Dict({**proprio, **bananas})

    # -------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        task, scene = options.get("task"), options.get("scene")
        if task is None:
            task = self.tasks.sample(self.np_random)
        elif not isinstance(task, HiddenTargetTask):
            raise ValueError(f"options['task'] must be a banana_grasp.envs.HiddenTargetTask; got {type(task).__name__}")
        elif not self.tasks.contains(task):
            bands = ", ".join(f"[{low:.3f}, {high:.3f})" for low, high in self.tasks.rule_bands)
            raise ValueError(
                f"{task} is not a rule of split {self.split!r}: its target hue must lie in one of {bands} "
                "(hues past 1 wrap to 0); use the env of the split that contains it"
            )
        if scene is None:
            scene = self.tasks.sample_scene(task, self.np_random)
        elif not isinstance(scene, HiddenTargetScene):
            raise ValueError(
                f"options['scene'] must be a banana_grasp.envs.HiddenTargetScene; got {type(scene).__name__}"
            )
        elif not self.tasks.contains_scene(task, scene):
            raise ValueError(
                f"{scene} is not a scene of {task} in split {self.split!r}: it needs one banana of the target hue, "
                "one of another hue band of the split, and the split's layout (see HiddenTargetSpace)"
            )
        self.task, self.scene = task, scene
        self._target = self.tasks.target_slot(task, scene)
        self._colors = [c for slot in SLOTS for c in scene.banana(slot).color]
        self._start_gripper()
        d = self.data
        for slot, q, rgba in zip(SLOTS, self._banana_qpos, self._banana_rgba):
            banana = scene.banana(slot)
            self.model.geom_rgba[rgba, :3] = banana.color
            d.qpos[q : q + 3] = (banana.x, banana.y, REST_Z)
            d.qpos[q + 3 : q + 7] = yaw_quat(banana.yaw)
        self._settle()
        self._rest_z = tuple(float(d.qpos[q + 2]) for q in self._banana_qpos)
        self._last_obs = self._observe()[0]
        return self._last_obs, {"task": task, "scene": scene, "is_success": False, "lifted": None}

    def _check_clear(self) -> None:
        # Reset-time only: a banana that starts inside the gripper or the other banana is a bad scene.
        d = self.data
        for contact in d.contact[: d.ncon] if d.ncon else ():
            touched = [g for g in contact.geom if g in self._banana_geoms]
            other = [g for g in contact.geom if g not in self._banana_geoms]
            if len(touched) == 2 and self.model.geom_bodyid[touched[0]] != self.model.geom_bodyid[touched[1]]:
                raise ValueError(f"{self.scene} places the bananas in collision with each other")
            if touched and other and other[0] != self._table_geom:
                raise ValueError(f"{self.scene} places a banana in collision with the gripper")

    def step(self, action):
        if self.task is None:
            raise ResetNeeded("call reset() before step(): the episode's rule and scene are drawn at reset")
        if self._simulate(action):
            return self._diverged_step()
        obs, (to_a, to_b), (z_a, z_b), touch, on_table = self._observe()
        left_a, right_a, left_b, right_b = touch
        height_a, height_b = z_a - self._rest_z[0], z_b - self._rest_z[1]
        # Both pads on one banana grasp it (the bananas lie too far apart for one grasp to hold both).
        grasp_a, grasp_b = left_a > 0 and right_a > 0, left_b > 0 and right_b > 0
        lift_height = self._lift_height
        lifted = "a" if grasp_a and height_a >= lift_height else "b" if grasp_b and height_b >= lift_height else None
        success = lifted == self._target
        on_a = self._target == "a"
        if self._grasp_for == "target":  # grasp and lift: the target's alone
            held = (grasp_a if on_a else grasp_b) and not on_table
            height = height_a if on_a else height_b
        else:  # the banana held, either
            held = (grasp_a or grasp_b) and not on_table
            height = height_a if grasp_a else height_b
        if self._reach_for == "target":
            x, y, z = to_a if on_a else to_b
            distance = math.sqrt(x * x + y * y + z * z)
        else:  # the nearer banana
            distance = min(math.sqrt(x * x + y * y + z * z) for x, y, z in (to_a, to_b))
        reward, terms = self._get_rew(distance, held, height, success)
        self._last_obs = obs
        info = self._info(success, terms, diverged=False, lifted=lifted)
        return obs, reward, z_a < FALLEN_Z or z_b < FALLEN_Z, False, info

    def _info(
        self, success: bool, terms: dict[str, float], diverged: bool, lifted: str | None = None
    ) -> dict[str, Any]:
        return {**super()._info(success, terms, diverged), "lifted": lifted}

    def _observe(self) -> tuple[dict[str, np.ndarray], tuple, tuple[float, float], list[float], bool]:
        """The observation, and what the reward uses too: the float64 gripper-to-banana vectors
        of a and b, their heights, the pads' contacts (left and right on a, then on b) and
        whether the gripper touches the table. Built as the lift env's (Python floats, one cast).
        """
        d = self.data
        qpos = d.qpos.tolist()  # one read: the hand, the fingers and both bananas
        gx, gy, gz = d.site_xpos[self._tcp].tolist()
        qa, qb = self._banana_qpos
        a, b = qpos[qa : qa + 7], qpos[qb : qb + 7]
        to_a = (a[0] - gx, a[1] - gy, a[2] - gz)
        to_b = (b[0] - gx, b[1] - gy, b[2] - gz)
        left, right = qpos[self._finger_qpos]
        gap = max(PAD_GAP_OPEN - (left + right), 0.0)
        sensors = d.sensordata.tolist()
        touch = [sensors[i] for i in self._touch]
        left_touch, right_touch = touch[0] + touch[2], touch[1] + touch[3]  # a pad touches either banana
        colors = self._colors
        flat = np.array(
            [
                gx, gy, gz,
                qpos[self._yaw_qpos.start],
                gap,
                1.0 if left_touch > 1.0 else left_touch, 1.0 if right_touch > 1.0 else right_touch,  # noqa: FURB136
                *a, *to_a, *colors[:3],
                *b, *to_b, *colors[3:],
            ],
            dtype=np.float32,
        )  # fmt: skip
        # The dict holds views of this fresh array: nothing returned earlier is overwritten.
        obs = {key: flat[s] for key, s in _STATE_SLICES.items()}
        if self._obs_mode == "pixels":
            pixels = {"pixels": self._render(self._pixel_size, self._pixel_size, self._camera)}
            obs = {**pixels, **{k: obs[k] for k in _PROPRIO_SIZES}} if self._with_proprio else pixels
        return obs, (to_a, to_b), (a[2], b[2]), touch, sensors[self._on_table] != 0

    # ------------------------------------------------- privileged state (experts)
    @property
    def target_slot(self) -> str:
        """The slot ("a" or "b") of this episode's target: privileged, never in the observation."""
        if self.task is None:
            raise ResetNeeded("call reset() before target_slot: the episode's scene is drawn at reset")
        return self._target

    def state_observation(self) -> dict[str, np.ndarray]:
        """The state observation (both bananas), whatever ``obs_mode`` is."""
        if self.task is None:
            raise ResetNeeded("call reset() before state_observation()")
        mode, self._obs_mode = self._obs_mode, "state"
        try:
            return self._observe()[0]
        finally:
            self._obs_mode = mode

    def banana_observation(self, slot: str) -> dict[str, np.ndarray]:
        """One banana's state in the lift env's format (``BananaGraspEnv.state_observation``):
        ``finger_contact`` counts the pads on this banana only. For scripted experts."""
        if slot not in SLOTS:
            raise ValueError(f"unknown slot {slot!r}; allowed: {', '.join(SLOTS)}")
        state = self.state_observation()
        sensors = self.data.sensordata.tolist()
        pads = self._touch[:2] if slot == "a" else self._touch[2:]
        contact = np.array([min(sensors[i], 1.0) for i in pads], np.float32)
        return {
            "gripper_pos": state["gripper_pos"],
            "gripper_yaw": state["gripper_yaw"],
            "finger_opening": state["finger_opening"],
            "finger_contact": contact,
            **{lift_key: state[_banana_key(part, slot)] for part, lift_key in _LIFT_KEYS.items()},
        }

    def target_observation(self) -> dict[str, np.ndarray]:
        """The target banana's state in the lift env's format: ``ScriptedExpert().act`` lifts it."""
        return self.banana_observation(self.target_slot)
