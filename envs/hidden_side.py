"""The hidden-side family's env: two bananas, one on the left and one on the right, and a hidden
rule, left or right, that says which one pays."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from banana_grasp.envs.family import Layout, Measured, TaskFamilyEnv, arguments_of
from banana_grasp.envs.gripper import RENDER_SIZE
from banana_grasp.envs.hidden_target import HiddenTargetEnv
from banana_grasp.envs.hidden_target_tasks import HIDDEN_TARGET_SPACES, HiddenTargetScene, pair_fits, pair_places
from banana_grasp.envs.tasks import SPLITS, Cells, HueBands, Task, check_name

SIDES = ("left", "right")  # the rules, as seen from the robot: left is +y (see HiddenSideEnv)
SLOT_OF_SIDE = {"left": "a", "right": "b"}  # slot a always holds the left banana
REACH_TOWARD = ("target", "both")


@dataclass(frozen=True)
class HiddenSideTask:
    """A rule of the hidden-side family: the banana on this ``side`` ("left" or "right", seen
    from the robot) is the one that pays."""

    side: str

    def __post_init__(self) -> None:
        if not (isinstance(self.side, str) and self.side in SIDES):
            raise ValueError(f"HiddenSideTask side must be one of {', '.join(map(repr, SIDES))}; got {self.side!r}")

    @property
    def slot(self) -> str:
        """The observation slot of the banana that pays: "a" (left) or "b" (right)."""
        return SLOT_OF_SIDE[self.side]

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HiddenSideTask:
        return cls(side=data["side"])


@dataclass(frozen=True)
class HiddenSideSpace:
    """The rules and scenes of one split of the hidden-side family.

    Rules: both, ``left`` and ``right``, in every split (the rule is the hidden variable; what a
    split holds out is the scenes). A scene: each banana's colour drawn on its own from the
    split's hue bands (``colors``, the lift family's), and the pair laid out as the hidden-target
    family's (its middle in ``centres``, the split's cells of that family; the bananas' middles
    ``PAIR_SEPARATION`` apart across the pair, up to ``PAIR_OFFSET`` along it, each yawed up to
    ``PAIR_SPREAD`` off the pair's yaw), slot ``a`` the banana of larger y: the left one.
    """

    split: str
    colors: HueBands
    centres: Cells

    def sample(self, rng: np.random.Generator) -> HiddenSideTask:
        return HiddenSideTask(SIDES[rng.integers(len(SIDES))])

    def contains(self, task: HiddenSideTask) -> bool:
        return isinstance(task, HiddenSideTask)

    def sample_scene(self, rng: np.random.Generator) -> HiddenTargetScene:
        """A scene of this split, drawn with ``rng`` (the same for either rule: the rule is not in it)."""
        colors = [self.colors.sample(rng) for _ in SIDES]
        places = pair_places(self.centres, rng)
        places.sort(key=lambda place: -place[1])  # the left banana (larger y) first: slot a
        return HiddenTargetScene(*(Task(color, *place) for color, place in zip(colors, places)))

    def contains_scene(self, scene: HiddenTargetScene) -> bool:
        """Whether ``sample_scene`` can draw ``scene``: the split's colours and layout, ``a`` on the left."""
        if not isinstance(scene, HiddenTargetScene):
            return False
        a, b = scene.a, scene.b
        return (
            a.y > b.y
            and self.colors.contains(a.color)
            and self.colors.contains(b.color)
            and pair_fits(self.centres, a, b)
        )


HIDDEN_SIDE_SPACES: dict[str, HiddenSideSpace] = {
    split: HiddenSideSpace(split, HIDDEN_TARGET_SPACES[split].colors, HIDDEN_TARGET_SPACES[split].centres)
    for split in SPLITS
}


def hidden_side_space(split: str) -> HiddenSideSpace:
    """The rules and scenes of a split of the hidden-side family; raises ValueError on an unknown split."""
    check_name("split", split, SPLITS)
    return HIDDEN_SIDE_SPACES[split]


class HiddenSideEnv(TaskFamilyEnv):
    r"""
    ## Description
    Two bananas lie side by side on the table under the lift env's gripper (`BananaGraspEnv`):
    one on the left, one on the right. A hidden rule, the *task* `HiddenSideTask(side)` with
    `side` `"left"` or `"right"`, says which one pays: the *target*; the other is the *decoy*.
    Success is a grasp of the target that holds it clear of the table (see Rewards). The
    observation shows both bananas in fixed slots, `a` always the left one and `b` the right
    one, but never the rule. Each reset draws a fresh *scene* (the bananas' colours, the
    pair's place and yaw); the rule stays for a trial of several episodes (`Trial`). So a
    learner with memory can carry what the rewards of one episode told it (which side pays)
    to the next; one without memory, which cannot know the rule, succeeds in at most half the
    episodes, whatever it does (with the same actions, its observations are the same under
    both rules, and it cannot hold both bananas up at once). This is the suite's positive
    control: an oracle with the rule in its observation (`show_rule=True`) shows the family
    is learnable, and a meta-learner that uses its memory must beat every memoryless learner.

    *Left* is seen from the robot: the side of the gripper's left finger (the `left_touch` pad)
    in its home pose, yaw 0, which is world +y; the robot's own camera, `wrist`, shows it on
    the left of its image (the `front` camera, which faces the robot from +x, on the right of
    its image). Slot `a` is the banana whose middle has the larger y. The layout keeps the
    two apart in y by at least 5.7 cm (9-10 cm across the pair, up to 2 cm along it, the pair
    yawed at most 39 degrees), so which one is left never depends on a few millimetres.

    Splits (`banana_grasp.envs.hidden_side.HiddenSideSpace`): both rules in both splits (the
    rule is the hidden variable; a split holds out scenes). Each banana's colour is drawn on
    its own from the lift env's `train` or held-out hue bands (saturation and value as the
    colour variation's); the pair is laid out as the hidden-target family's: its middle in
    that family's train or held-out cells of a 4 x 4 checkerboard over a 14 cm square
    (disjoint), its yaw within +-39 degrees, the bananas' middles 9-10 cm apart across it and
    up to 2 cm along it, each yawed up to 0.1 rad off the pair's, so the open gripper takes
    either banana clear of the other. Held-out scenes have new hues and new cells.

    ## Action Space
    As `BananaGraspEnv`: `Box(-1, 1, (5,), float32)`, `(dx, dy, dz, dyaw, grip)`.

    ## Observation Space
    `obs_mode="state"`: the hidden-target env's `Dict` of float32 vectors (world frame, metres
    and radians), with slot `a` the left banana and `b` the right one:

    | key | shape | meaning |
    |---|---|---|
    | `gripper_pos` | 3 | tool centre point (midway between the fingertips) |
    | `gripper_yaw` | 1 | wrist angle |
    | `finger_opening` | 1 | gap between the pads |
    | `finger_contact` | 2 | 1 where the left / right pad touches a banana (either) |
    | `banana_a_pos` | 3 | middle of the left banana's arc (its grasp point) |
    | `banana_a_quat` | 4 | its orientation (w, x, y, z) |
    | `gripper_to_banana_a` | 3 | `banana_a_pos - gripper_pos` |
    | `banana_a_color` | 3 | its RGB in [0, 1] |
    | `banana_b_pos`, `banana_b_quat`, `gripper_to_banana_b`, `banana_b_color` | 3, 4, 3, 3 | the same for the right banana |
    | `rule` | 1 | only with `show_rule=True`: -1 if the rule is `left`, +1 if `right` |

    Bounds as the hidden-target env's (the gripper's keys by its joints' ranges widened by
    1 cm; the bananas' positions unbounded). `rule` is for the oracle reference learner only:
    the registered ids never show it. `obs_mode="pixels"`: `pixels` from `camera` (both
    bananas in view), plus the first four keys with `pixels_with_proprio=True`.

    ## Rewards
    `reward_type="dense"`: the sum of five terms, each in `info["reward_terms"]` and as a flat
    key `info["reward_<term>"]`:
    - `reach`: `reach_weight * (1 - tanh(10 * distance(gripper, target)))` (`reach_toward="target"`),
      or the mean of that over both bananas (`reach_toward="both"`, the same under either rule);
    - `touch`: at the step of the episode's first pad contact with a banana, once,
      `+touch_weight` if it touches the target alone, `-touch_weight` if it touches the decoy
      (a pad on each banana at that step counts as the decoy: a hedge must not pay); paid once,
      it is larger than the other terms of any step (6 at most), and `touch_weight` must be >= 0;
    - `grasp`: `grasp_weight` while both pads touch the target and no part of the gripper
      touches the table;
    - `lift`: `lift_weight * min(the target's height gained / lift_height, 1)` while `grasp` is paid;
    - `success`: `success_weight` while the target is lifted.
    `reward_type="sparse"`: 1 while the target is lifted, else 0 (no `touch`: the rule shows only
    in success). A banana is *lifted* while both pads touch it and its middle is at least
    `lift_height` (1 cm) above its resting height; `info["lifted"]` is the slot of the lifted
    banana (or None) and `info["is_success"]` is True while that is the target's slot, as in
    the hidden-target env, so its reports of which banana a learner ended holding read this
    env unchanged. `info["touched"]` is what the first pad contact touched: `"target"`,
    `"decoy"`, or None before any contact: the episode's choice.

    Why the reward is fair, and why these choices.
    - The rule is revealed early and signed. The reach term pulls toward the target, never
      toward the nearer banana: paid for the nearer one, an oracle PPO that saw the rule
      ignored it (0.40 success at 300k steps, one seed, a prototype on the hidden-target
      env), paid toward the target it learned the choice (0.78 at 122k, 0.9-1.0 from 160k).
      It tells the rule to a learner that reads its rewards from the first step: the term is a
      known function of the target's distance, and the observation gives both distances (the
      two rules' first rewards differ by 0.036 at the median over 200 scenes, 0.09 at most);
      `touch` then says it outright, with a sign, at the moment the choice is made. A learner
      that does not see its rewards (PPO, fine-tuned or not) cannot read either: to it the
      reach term pulls toward each side in half the episodes. Every learner gets the same
      reward; only a memory of rewards can use it within a trial, which is what this family
      tests. `reach_toward="both"` leaves `touch` as the only signal before success.
    - Success is a grasp, not a 5 cm lift. This family tests the choice, not the lift (the lift
      family tests the motor skill); in the prototype, RL^2's failures in the two-banana scene
      were failed lifts, not wrong choices. A grasped banana leaves the table 0.3-1 mm up
      (200 episodes of the scripted expert), so `lift_height=0.01` means clear of the table,
      and both pads on the target rule out a push that tips it up. Success is read at the
      end of the episode, as for every family: the target must still be held then.
    - A decoy contact does not end the episode (`terminate_on_decoy=False`). Ending it would
      not lower the cap of a learner that cannot know the rule (50% either way) and the
      `touch` term already says the choice was wrong; kept going, the rest of the episode is
      still practice at reaching and grasping (the measured bottleneck of RL^2 here), a learner
      that reads its rewards may still switch to the target, and `info["lifted"]` still records
      a decoy held. `terminate_on_decoy=True` makes the first choice final: the episode ends
      at the step its first contact touches the decoy.

    ## Starting State
    The gripper starts as in `BananaGraspEnv`: open, yaw 0, at (0, 0, 0.15) plus uniform noise
    of +-`reset_noise_scale` metres. The task is `options["task"]` if given to `reset` (a
    `HiddenSideTask`; a task of another family is refused), else drawn with `self.np_random`;
    the scene is `options["scene"]` if given (a `HiddenTargetScene`, the two bananas by slot,
    that the split could draw), else drawn with `self.np_random`. The scene's draw does not
    depend on the rule: with the same seed, both rules get the same scene and the same
    observations. The bananas settle for 80 ms; their heights then are their resting heights.
    `info["task"]` reports the rule (every step), `info["scene"]` the scene (at reset).
    Privileged, for scripted experts and analysis: `target_slot`, `target_observation()` (the
    target in the lift env's state format, so that `ScriptedExpert().act` lifts it),
    `banana_observation(slot)` and `state_observation()`.

    ## Episode End
    Truncation after 50 steps (0.04 s each, 2 s) for the registered ids
    (`HIDDEN_SIDE_EPISODE_STEPS`), half the other families' 100: shorter episodes make quicker
    trials, and a grasp fits in 50 comfortably (the scripted expert holds the target clear of
    the table from step 13-34, median 19, and still holds it at step 50, in 1000 of 1000
    episodes of each split). Termination if either banana falls off the table (either: ending
    on the target's fall only would reveal it), the physics diverges
    (`info["physics_diverged"] = True`, the last finite observation), or, with
    `terminate_on_decoy=True`, at the first contact if it touches the decoy. Success does not
    end the episode.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | `split` | `"train"` | `train` or `heldout` scenes (both hold both rules) |
    | `obs_mode` | `"state"` | `state` or `pixels` |
    | `pixel_size` | `64` | side of the square pixel observation |
    | `camera` | `"front"` | `front` or `wrist`, for pixel observations |
    | `pixels_with_proprio` | `False` | add proprioception to pixel observations |
    | `reward_type` | `"dense"` | `dense` or `sparse` |
    | `render_mode` | `None` | `None` or `"rgb_array"` |
    | `frame_skip` | `10` | physics steps per env step |
    | `max_translation` | `0.02` | metres per step at full action |
    | `max_rotation` | `0.1` | radians per step at full action |
    | `lift_height` | `0.01` | metres above rest that count as lifted: clear of the table (the lift env's is 0.05) |
    | `reach_weight`, `touch_weight`, `grasp_weight`, `lift_weight`, `success_weight` | 1, 5, 1, 2, 2 | dense reward weights |
    | `reset_noise_scale` | `0.01` | metres of uniform noise on the gripper's start position, in [0, 0.05] |
    | `width`, `height` | `256`, `256` | size in pixels of the frames `render()` returns, at most 640 |
    | `camera_name` | `"front"` | `front` or `wrist`, the camera `render()` uses |
    | `timestep` | `0.004` | seconds per physics step, in (0, 0.008] |
    | `gripper_bounds` | `True` | bound `gripper_pos` and `gripper_yaw` in the observation space |
    | `reach_toward` | `"target"` | `target` or `both`: which banana the `reach` term pulls toward |
    | `terminate_on_decoy` | `False` | end the episode when its first contact touches the decoy |
    | `show_rule` | `False` | add the `rule` key (state observations only): for the oracle reference learner |

    ## Version History
    - v1 (banana-grasp 0.13.0): first version, on the lift env's physics (4 ms x 10 substeps)
      and gripper bounds (its v3).
    """

    scene_file = "scene_two_bananas.xml"
    bananas = HiddenTargetEnv.bananas  # the same two bananas, slots a and b, and observation keys
    task_type = HiddenSideTask
    reward_terms = ("reach", "touch", "grasp", "lift", "success")
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
        lift_height: float = 0.01,
        reach_weight: float = 1.0,
        touch_weight: float = 5.0,
        grasp_weight: float = 1.0,
        lift_weight: float = 2.0,
        success_weight: float = 2.0,
        reset_noise_scale: float = 0.01,
        width: int = RENDER_SIZE,
        height: int = RENDER_SIZE,
        camera_name: str = "front",
        timestep: float = 0.004,
        gripper_bounds: bool = True,
        reach_toward: str = "target",
        terminate_on_decoy: bool = False,
        show_rule: bool = False,
    ) -> None:
        arguments = arguments_of(HiddenSideEnv.__init__, locals())
        # Checked first: a bad keyword fails before the model loads.
        self.tasks = hidden_side_space(split)
        self.split = split
        check_name("reach_toward", reach_toward, REACH_TOWARD)
        if not (isinstance(touch_weight, (int, float)) and math.isfinite(touch_weight) and touch_weight >= 0):
            raise ValueError(
                f"touch_weight must be a finite number >= 0 (the target's +weight, the decoy's -weight); "
                f"got {touch_weight!r}"
            )
        if show_rule and obs_mode != "state":
            raise ValueError(f"show_rule=True adds a state key: it needs obs_mode='state'; got obs_mode={obs_mode!r}")
        self._reach_toward, self._touch_weight = reach_toward, float(touch_weight)
        self._terminate_on_decoy, self._show_rule = bool(terminate_on_decoy), bool(show_rule)
        super().__init__(arguments)  # after _show_rule: the observation space reads it
        self.scene: HiddenTargetScene | None = None
        self._target, self._touched = "a", None

    def _lay_out(self, task: HiddenSideTask, options: dict[str, Any]) -> Layout:
        scene = options.get("scene")
        if scene is None:
            scene = self.tasks.sample_scene(self.np_random)
        elif not isinstance(scene, HiddenTargetScene):
            raise ValueError(
                f"options['scene'] must be a banana_grasp.envs.HiddenTargetScene; got {type(scene).__name__}"
            )
        elif not self.tasks.contains_scene(scene):
            raise ValueError(
                f"{scene} is not a scene of split {self.split!r}: it needs both colours in the split's hue bands, "
                "the split's pair layout and banana a on the left (larger y); see HiddenSideSpace"
            )
        self.scene, self._target, self._touched = scene, task.slot, None
        return Layout((scene.a, scene.b), scene)

    def _task_spaces(self) -> dict[str, spaces.Box]:
        return {"rule": spaces.Box(-1.0, 1.0, (1,), np.float32)} if self._show_rule else {}

    def _task_values(self) -> list[float]:
        return [-1.0 if self.task.side == "left" else 1.0] if self._show_rule else []

    def _reset_info(self) -> dict[str, Any]:
        return {"task": self.task, "scene": self.scene, "is_success": False, "lifted": None, "touched": None}

    def _evaluate(self, measured: Measured) -> tuple[float, dict[str, Any]]:
        target = 0 if self._target == "a" else 1
        grasped, height, touching = measured.grasped, measured.height, measured.touching
        # Both pads on one banana grasp it (the bananas lie too far apart for one grasp to hold both).
        up = [holds and rise >= self._lift_height for holds, rise in zip(grasped, height)]
        lifted = "a" if up[0] else "b" if up[1] else None
        success = lifted == self._target
        touch = 0.0
        if self._touched is None and (touching[0] or touching[1]):
            # The first contact is the choice; a pad on each banana at once is a hedge: it counts as the decoy.
            self._touched = "decoy" if touching[1 - target] else "target"
            if not self._sparse:
                touch = self._touch_weight if self._touched == "target" else -self._touch_weight
        held = grasped[target] and self._hand_table_contact() == 0
        _, terms = self._get_rew(measured.distance[target], held, height[target], success)
        reach, grasp, lift, won = terms["reach"], terms["grasp"], terms["lift"], terms["success"]
        if self._reach_toward == "both" and not self._sparse:  # the mean of the two: the same under either rule
            reach = (reach + self._get_rew(measured.distance[1 - target], False, 0.0, False)[1]["reach"]) / 2
        terms = {"reach": reach, "touch": touch, "grasp": grasp, "lift": lift, "success": won}
        return reach + touch + grasp + lift + won, self._info(success, terms, lifted=lifted)

    def _info(
        self, success: bool, terms: dict[str, float], diverged: bool = False, lifted: str | None = None
    ) -> dict[str, Any]:
        return {**super()._info(success, terms, diverged), "lifted": lifted, "touched": self._touched}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        # terminate_on_decoy: a wrong first choice ends the episode (the rest of it cannot pay).
        terminated = terminated or (self._terminate_on_decoy and self._touched == "decoy")
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------- privileged state (experts)
    @property
    def target_slot(self) -> str:
        """The slot ("a", left, or "b", right) of this episode's target: privileged, never in the observation."""
        if self.task is None:
            raise ResetNeeded("call reset() before target_slot: the episode's rule is drawn at reset")
        return self._target

    def _expert_target(self) -> str:
        return self.target_slot
