"""The lift family's env: a Cartesian parallel-jaw gripper lifts one banana."""

from __future__ import annotations

import math
import warnings
from typing import Any

from banana_grasp.envs.family import Measured, TaskFamilyEnv, arguments_of
from banana_grasp.envs.gripper import PAD_GAP_OPEN, RENDER_SIZE, positive_int
from banana_grasp.envs.tasks import VARIATIONS, Task, task_distribution


class BananaGraspEnv(TaskFamilyEnv):
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
    | `split` | `"train"` | the spaces of the varying factors: `train`, `heldout`, `new-color` (held-out colours, training positions) or `new-position` (training colours, held-out positions) |
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
      expert's success and PPO's steps to 90% were measured unchanged
      (docs/notes/013-env-v2-physics-at-4-ms.md). Reward, observations, task spaces and `is_success`
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
    banana-grasp 0.13.0 restructures the code, a task family composed on the one robot
    (`banana_grasp.envs.family.TaskFamilyEnv`), without changing any id: every id's golden
    rollouts (tests/golden) replay float for float, frames byte for byte. It adds
    `target_observation()` and `banana_observation("banana")` (for the scripted expert, the
    state observation's format, as the hidden-target env's).
    banana-grasp 0.15.0 adds the splits `new-color` and `new-position` and their ids
    `BananaGrasp/Lift-NewColor-v3` and `BananaGrasp/Lift-NewPosition-v3` (variation `both`):
    the generalisation matrix's cells that hold out one factor. No existing id changes.
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
        arguments = arguments_of(BananaGraspEnv.__init__, locals())
        # The pickle holds width and height: render_size is resolved into them, and not kept.
        del arguments["render_size"]
        if render_size is not None:
            warnings.warn("render_size is deprecated: use width and height", DeprecationWarning, stacklevel=2)
            if (width, height) != (RENDER_SIZE, RENDER_SIZE):
                raise ValueError("give width and height, not render_size (deprecated) as well")
            arguments["width"] = arguments["height"] = positive_int("render_size", render_size)
        super().__init__(arguments)
        self.tasks = task_distribution(variation, split, position_layout)
        self.variation, self.split = variation, split
        if max_grasp_gap is not None and not 0.0 < max_grasp_gap <= PAD_GAP_OPEN:
            raise ValueError(
                f"max_grasp_gap must be None (any gap) or lie in (0, {PAD_GAP_OPEN}] metres; got {max_grasp_gap!r}"
            )
        self._max_grasp_gap = math.inf if max_grasp_gap is None else float(max_grasp_gap)
        self._grasp_on_table = bool(grasp_on_table)

    def _not_in_space(self, task: Task) -> str:
        return (
            f"{task} cannot be produced by variation {self.variation!r}, split {self.split!r}; "
            f"use an env whose variation and split contain it (variations: {', '.join(VARIATIONS)})"
        )

    def _evaluate(self, measured: Measured) -> tuple[float, dict[str, Any]]:
        grasped, height = measured.grasped[0], measured.height[0]
        success = grasped and height >= self._lift_height
        # The reward's grasp: the pads on the banana (within max_grasp_gap if set), and, unless
        # grasp_on_table, the gripper clear of the table (not pressing the banana down on it).
        held = (
            grasped
            and measured.pad_gap <= self._max_grasp_gap
            and (self._grasp_on_table or self._hand_table_contact() == 0)
        )
        reward, terms = self._get_rew(measured.distance[0], held, height, success)
        return reward, self._info(success, terms)
