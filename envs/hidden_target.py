"""The hidden-target family's env: two bananas on the table, and only one of them pays."""

from __future__ import annotations

from typing import Any

from gymnasium.error import ResetNeeded

from banana_grasp.envs.family import Banana, Layout, Measured, TaskFamilyEnv, arguments_of
from banana_grasp.envs.gripper import RENDER_SIZE
from banana_grasp.envs.hidden_target_tasks import (
    SLOTS,
    HiddenTargetScene,
    HiddenTargetTask,
    hidden_target_space,
)

# Which banana the shaped reward terms are paid for: reach, then grasp and lift.
SHAPINGS = {"either": ("either", "either"), "target": ("target", "target"), "grasp-target": ("either", "target")}


# The scene's names (scene_two_bananas.xml) for the banana of each slot: body, mesh, pad sensors.
_MJCF_NAMES = {
    "a": ("banana", "banana_mesh", ("left_touch", "right_touch")),
    "b": ("banana_b", "banana_b_mesh", ("left_touch_b", "right_touch_b")),
}


def _slot_keys(slot: str) -> tuple[str, str, str, str]:
    """A slot's observation keys, part by part as ONE_BANANA_KEYS: ``banana_a_pos``, ..."""
    return (f"banana_{slot}_pos", f"banana_{slot}_quat", f"gripper_to_banana_{slot}", f"banana_{slot}_color")


class HiddenTargetEnv(TaskFamilyEnv):
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

    Splits (`banana_grasp.envs.hidden_target_tasks.HiddenTargetSpace`): `train` rules have target hues in
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
    with this project's learners (docs/notes/019-hidden-target-learners-choose-by-place.md
    and 021-banana-attention-and-target-shaping.md): with `either` (all three terms for either banana, the success term the rule's
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

    banana-grasp 0.13.0 restructures the code, a task family composed on the one robot
    (`banana_grasp.envs.family.TaskFamilyEnv`), and moves the family's task spaces to
    `banana_grasp.envs.hidden_target_tasks`, without changing any id: every id's golden
    rollouts (tests/golden) replay float for float.
    """

    scene_file = "scene_two_bananas.xml"
    bananas = tuple(Banana(slot, *_MJCF_NAMES[slot], keys=_slot_keys(slot)) for slot in SLOTS)
    task_type = HiddenTargetTask
    drawn_at_reset = "the episode's rule and scene are drawn at reset"

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
        arguments = arguments_of(HiddenTargetEnv.__init__, locals())
        if shaping not in SHAPINGS:
            raise ValueError(f"unknown shaping {shaping!r}; allowed: {', '.join(SHAPINGS)}")
        self._shaping = shaping
        self._reach_for, self._grasp_for = SHAPINGS[shaping]  # looked up once, not every step
        self.tasks = hidden_target_space(split)  # first: an unknown split fails before the model loads
        self.split = split
        super().__init__(arguments)
        self.scene: HiddenTargetScene | None = None
        self._target = "a"

    def _not_in_space(self, task: HiddenTargetTask) -> str:
        bands = ", ".join(f"[{low:.3f}, {high:.3f})" for low, high in self.tasks.rule_bands)
        return (
            f"{task} is not a rule of split {self.split!r}: its target hue must lie in one of {bands} "
            "(hues past 1 wrap to 0); use the env of the split that contains it"
        )

    def _lay_out(self, task: HiddenTargetTask, options: dict[str, Any]) -> Layout:
        scene = options.get("scene")
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
        self.scene, self._target = scene, self.tasks.target_slot(task, scene)
        return Layout(tuple(scene.banana(banana.slot) for banana in self.bananas), scene)

    def _reset_info(self) -> dict[str, Any]:
        return {"task": self.task, "scene": self.scene, "is_success": False, "lifted": None}

    def _evaluate(self, measured: Measured) -> tuple[float, dict[str, Any]]:
        # Both pads on one banana grasp it (the bananas lie too far apart for one grasp to hold both).
        (grasp_a, grasp_b), (height_a, height_b) = measured.grasped, measured.height
        lift_height = self._lift_height
        lifted = "a" if grasp_a and height_a >= lift_height else "b" if grasp_b and height_b >= lift_height else None
        success = lifted == self._target
        on_a = self._target == "a"
        on_table = self._hand_table_contact() != 0
        if self._grasp_for == "target":  # grasp and lift: the target's alone
            held = (grasp_a if on_a else grasp_b) and not on_table
            height = height_a if on_a else height_b
        else:  # the banana held, either
            held = (grasp_a or grasp_b) and not on_table
            height = height_a if grasp_a else height_b
        if self._reach_for == "target":
            distance = measured.distance[0 if on_a else 1]
        else:  # the nearer banana
            distance = min(measured.distance)
        reward, terms = self._get_rew(distance, held, height, success)
        return reward, self._info(success, terms, lifted=lifted)

    def _info(
        self, success: bool, terms: dict[str, float], diverged: bool = False, lifted: str | None = None
    ) -> dict[str, Any]:
        return {**super()._info(success, terms, diverged), "lifted": lifted}

    # ------------------------------------------------- privileged state (experts)
    @property
    def target_slot(self) -> str:
        """The slot ("a" or "b") of this episode's target: privileged, never in the observation."""
        if self.task is None:
            raise ResetNeeded("call reset() before target_slot: the episode's scene is drawn at reset")
        return self._target

    def _expert_target(self) -> str:
        return self.target_slot
