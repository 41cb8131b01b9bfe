"""A task family as a plug-in: ``TaskFamilyEnv``, the base class of a family's env, composed
on the one robot (``gripper.GripperEnv``). A family is one short subclass: see its docstring."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import EzPickle

from banana_grasp.envs.gripper import FALLEN_Z, PAD_GAP_OPEN, REST_Z, REWARD_TERMS, GripperEnv, RobotSettings, yaw_quat
from banana_grasp.envs.tasks import Task

PROPRIO_KEYS = ("gripper_pos", "gripper_yaw", "finger_opening", "finger_contact")
_PROPRIO_SIZE = 7  # gripper_pos 3, gripper_yaw 1, finger_opening 1, finger_contact 2, first in the flat vector
# A banana's keys, by part: its position, orientation, the vector to it from the gripper and its
# colour. The one-banana names are the format the scripted expert reads (banana_observation).
ONE_BANANA_KEYS = ("banana_pos", "banana_quat", "gripper_to_banana", "banana_color")
_PART_SPACES = ((3, -np.inf, np.inf), (4, -1.0, 1.0), (3, -np.inf, np.inf), (3, 0.0, 1.0))  # size, low, high


@dataclass(frozen=True)
class Banana:
    """One banana of a family's scene: its slot (the name ``banana_observation`` takes), its
    names in the MJCF and its observation keys (``ONE_BANANA_KEYS``' parts, in that order)."""

    slot: str
    body: str = "banana"  # the body and its free joint
    mesh: str = "banana_mesh"  # the visual geom whose colour a task sets
    pads: tuple[str, str] = ("left_touch", "right_touch")  # contact sensors: the left, the right pad on it
    keys: tuple[str, str, str, str] = ONE_BANANA_KEYS


class Layout(NamedTuple):
    """What one episode lays on the table: each banana's colour and pose (``bananas`` order), and
    the value that errors about them name (the task, or the scene drawn for it)."""

    bananas: tuple[Task, ...]
    shown: object


class Measured(NamedTuple):
    """What one step measured, per banana in ``bananas`` order, for a family's ``_evaluate``."""

    distance: list[float]  # metres from the tool centre point to the banana's middle
    height: list[float]  # metres above the banana's resting height
    touching: list[bool]  # a pad touches it
    grasped: list[bool]  # both pads touch it
    pad_gap: float  # metres between the pads
    fallen: bool  # a banana has left the table: the episode ends


class TaskSpace(Protocol):
    """A family's tasks of one split: drawn with the env's generator, checked when a caller pins one."""

    def sample(self, rng: np.random.Generator) -> Any: ...

    def contains(self, task: Any) -> bool: ...


def arguments_of(init: Callable[..., None], frame_locals: Mapping[str, Any]) -> dict[str, Any]:
    """A constructor's arguments by name, from ``locals()`` taken first thing in ``init``: its own
    parameters, and a ``**robot`` catch-all's keywords, each of which must be a robot keyword."""
    arguments = {}
    for name, kind in _parameters(init):
        if kind is inspect.Parameter.VAR_KEYWORD:
            unknown = sorted(set(frame_locals[name]) - _ROBOT_KEYWORDS)
            if unknown:
                raise TypeError(f"{init.__qualname__}() got unexpected keyword arguments {unknown}")
            arguments.update(frame_locals[name])
        else:
            arguments[name] = frame_locals[name]
    return arguments


@cache
def _parameters(init: Callable[..., None]) -> tuple[tuple[str, Any], ...]:
    parameters = list(inspect.signature(init).parameters.values())[1:]  # after self
    return tuple((parameter.name, parameter.kind) for parameter in parameters)


_ROBOT_KEYWORDS = frozenset(field.name for field in fields(RobotSettings))


def _public_name(cls: type) -> str:
    """The name a user imports ``cls`` by: the package's own types are all in ``banana_grasp.envs``."""
    module = "banana_grasp.envs" if cls.__module__.startswith("banana_grasp.envs.") else cls.__module__
    return f"{module}.{cls.__qualname__}"


class TaskFamilyEnv(GripperEnv, EzPickle):
    """The base of a task family's env, which writes once what every family shares: the gripper,
    table, cameras, physics and rendering (``GripperEnv``, its base), the bananas' placing at reset
    and the check that they lie clear, the state observation built from the bananas a family
    declares (its pixel branch, ``state_observation``), reset's validation of ``options["task"]``,
    the step, the info and the end of an episode on a fallen banana or a physics divergence.

    A family is one subclass that says only what is its own (panda-gym's ``Task`` composed with its
    ``Robot``, here in one class, so that the env's attributes stay on one object):

    - its objects: ``scene_file`` (an MJCF of ``assets/``, default the one-banana ``scene.xml``) and
      ``bananas``, one :class:`Banana` each: its names in the MJCF, its keys in the observation;
    - its task space: ``task_type``, and ``self.tasks`` set in ``__init__`` for the split asked for
      (``sample(rng)``, ``contains(task)``), with ``_not_in_space(task)`` to say why a task is refused;
      ``_lay_out(task, options)`` if a task is more than the one banana's colour and pose;
    - its observation keys: each banana's four (position, orientation, gripper-to-banana vector,
      colour), after the gripper's; ``_task_spaces`` and ``_task_values`` add keys of its own;
    - its reward terms and success: ``reward_terms`` and ``_evaluate(measured)``, which turns what a
      step measured (:class:`Measured`) into the reward and the info (``GripperEnv._get_rew`` pays the
      lift reward's terms);
    - its expert's target: ``_expert_target()``, the slot that ``target_observation()`` shows the
      scripted expert (default: the only banana).

    Its constructor takes its own keywords and the robot's (:class:`RobotSettings`) and hands them on
    once: ``super().__init__(arguments_of(MyEnv.__init__, locals()))``, taken first thing. A one-banana
    family that is touched to succeed::

        class TouchEnv(TaskFamilyEnv):
            reward_terms = ("touch",)

            def __init__(self, split: str = "train", **robot: Any) -> None:
                super().__init__(arguments_of(TouchEnv.__init__, locals()))
                self.tasks = task_distribution("position", split)

            def _evaluate(self, measured: Measured) -> tuple[float, dict[str, Any]]:
                touched = measured.touching[0]
                return float(touched), self._info(touched, {"touch": float(touched)})
    """

    scene_file: ClassVar[str] = "scene.xml"
    bananas: ClassVar[tuple[Banana, ...]] = (Banana("banana"),)
    task_type: ClassVar[type] = Task
    reward_terms: ClassVar[tuple[str, ...]] = REWARD_TERMS
    drawn_at_reset: ClassVar[str] = "the episode's task is drawn at reset"  # why step() needs a reset first
    tasks: TaskSpace

    def __init__(self, arguments: Mapping[str, Any]) -> None:
        """``arguments``: the family constructor's, by name (``arguments_of``). EzPickle keeps them
        as keywords, so that a pickle survives a reordering of the signature; the robot takes its own."""
        EzPickle.__init__(self, **arguments)
        super().__init__(self.scene_file, RobotSettings.of(arguments))
        m = self.model
        # Named lookups happen once, here; step() only indexes lists, with Python ints.
        self._banana_qpos = tuple(int(m.joint(banana.body).qposadr[0]) for banana in self.bananas)
        self._banana_rgba = tuple(m.geom(banana.mesh).id for banana in self.bananas)
        self._pad_sensors = tuple(
            tuple(int(m.sensor_adr[m.sensor(name).id]) for name in banana.pads) for banana in self.bananas
        )
        self._slots = {banana.slot: index for index, banana in enumerate(self.bananas)}
        bodies = {m.body(banana.body).id: index for index, banana in enumerate(self.bananas)}
        self._banana_of_geom = {g: bodies[m.geom_bodyid[g]] for g in range(m.ngeom) if m.geom_bodyid[g] in bodies}
        self._flat_reward_keys = tuple((term, f"reward_{term}") for term in self.reward_terms)
        self.observation_space = self._make_observation_space()
        self._slices = self._state_slices()
        self.task: Any = None
        self._layout: Layout | None = None
        # Per banana, what step() reads: its qpos address, its pads' sensor addresses, its resting height.
        self._banana_reads: tuple[tuple[int, int, int, float], ...] = ()
        self._constants: list[float] = []  # the observation's values that hold for an episode
        self._last_obs: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------ what a family may override
    def _not_in_space(self, task: Any) -> str:
        """Why ``options["task"]``, of the right type, is refused: it lies outside ``self.tasks``."""
        return f"{task} is not in the task space of this {type(self).__name__}"

    def _lay_out(self, task: Any, options: Mapping[str, Any]) -> Layout:
        """The bananas an episode of ``task`` places (may draw from ``self.np_random``, after the
        task's draw). By default the task is a :class:`Task`: the one banana's colour and pose."""
        return Layout((task,), task)

    def _evaluate(self, measured: Measured) -> tuple[float, dict[str, Any]]:
        """The step's reward and info (``self._info``), from what it measured."""
        raise NotImplementedError

    def _expert_target(self) -> str:
        """The slot of the banana the scripted expert should lift this episode."""
        return self.bananas[0].slot

    def _task_spaces(self) -> dict[str, spaces.Box]:
        """Observation keys of the family's own, after the bananas' (float32 vectors)."""
        return {}

    def _task_values(self) -> list[float]:
        """Their values for this episode, set at reset, in ``_task_spaces``' order."""
        return []

    def _reset_info(self) -> dict[str, Any]:
        return {"task": self.task, "is_success": False}

    def _info(self, success: bool, terms: dict[str, float], diverged: bool = False) -> dict[str, Any]:
        # The terms twice: as one dict, and as flat keys that Monitor(info_keywords=...) can log.
        info = {"task": self.task, "is_success": success, "reward_terms": terms}
        for term, key in self._flat_reward_keys:
            info[key] = terms[term]
        info["physics_diverged"] = diverged
        return info

    # ----------------------------------------------------------------- spaces
    def _make_observation_space(self) -> spaces.Dict:
        proprio = self._proprio_spaces()
        if self._obs_mode == "pixels":
            size = self._pixel_size
            image = {"pixels": spaces.Box(0, 255, (size, size, 3), np.uint8)}
            return spaces.Dict({**image, **proprio} if self._with_proprio else image)
        bananas = {
            key: spaces.Box(low, high, (size,), np.float32)
            for banana in self.bananas
            for key, (size, low, high) in zip(banana.keys, _PART_SPACES)
        }
        return spaces.Dict({**proprio, **bananas, **self._task_spaces()})

    def _state_slices(self) -> dict[str, slice]:
        """Where each state key lies in the flat vector ``_observe`` builds: the gripper's values,
        each banana's position, orientation and vector, then the episode's constants (the bananas'
        colours, the family's values). Keys in the observation space's order."""
        slices = {"gripper_pos": slice(0, 3), "gripper_yaw": slice(3, 4)}
        slices |= {"finger_opening": slice(4, 5), "finger_contact": slice(5, _PROPRIO_SIZE)}
        constants = _PROPRIO_SIZE + 10 * len(self.bananas)
        for index, banana in enumerate(self.bananas):
            start, color = _PROPRIO_SIZE + 10 * index, constants + 3 * index
            pos, quat, to, rgb = banana.keys
            slices |= {pos: slice(start, start + 3), quat: slice(start + 3, start + 7)}
            slices |= {to: slice(start + 7, start + 10), rgb: slice(color, color + 3)}
        start = constants + 3 * len(self.bananas)
        for key, space in self._task_spaces().items():
            slices[key], start = slice(start, start + space.shape[0]), start + space.shape[0]
        return slices

    # -------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        task = self._checked_task(options.get("task"))
        layout = self._lay_out(task, options)
        self.task, self._layout = task, layout
        self._start_gripper()
        d = self.data
        for banana, q, rgba in zip(layout.bananas, self._banana_qpos, self._banana_rgba):
            self.model.geom_rgba[rgba, :3] = banana.color
            d.qpos[q : q + 3] = (banana.x, banana.y, REST_Z)
            d.qpos[q + 3 : q + 7] = yaw_quat(banana.yaw)
        self._settle()
        rest_z = [float(d.qpos[q + 2]) for q in self._banana_qpos]
        self._banana_reads = tuple((q, *pads, z) for q, pads, z in zip(self._banana_qpos, self._pad_sensors, rest_z))
        self._constants = [c for banana in layout.bananas for c in banana.color] + self._task_values()
        self._last_obs = self._get_obs()
        return self._last_obs, self._reset_info()

    def _checked_task(self, task: Any) -> Any:
        """``options["task"]`` once checked, or a task drawn from ``self.tasks`` if none is given."""
        if task is None:
            task = self.tasks.sample(self.np_random)
        elif not isinstance(task, self.task_type):
            raise ValueError(f"options['task'] must be a {_public_name(self.task_type)}; got {type(task).__name__}")
        elif not self.tasks.contains(task):
            raise ValueError(self._not_in_space(task))
        return task

    def _check_clear(self) -> None:
        # Reset-time only: a banana that starts inside the gripper or another banana is a bad layout.
        d = self.data
        for contact in d.contact[: d.ncon] if d.ncon else ():
            first, second = (self._banana_of_geom.get(g) for g in contact.geom)
            if first is not None and second is not None:
                if first != second:
                    raise ValueError(f"{self._layout.shown} places the bananas in collision with each other")
            elif first is not None or second is not None:
                other = contact.geom[1] if first is not None else contact.geom[0]
                if other != self._table_geom:
                    banana = "the banana" if len(self.bananas) == 1 else "a banana"
                    raise ValueError(f"{self._layout.shown} places {banana} in collision with the gripper")

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self.task is None:
            raise ResetNeeded(f"call reset() before step(): {self.drawn_at_reset}")
        if self._simulate(action):
            return self._diverged_step()
        obs, measured = self._observe()
        reward, info = self._evaluate(measured)
        self._last_obs = obs
        return obs, reward, measured.fallen, False, info

    def _diverged_step(self) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """The step's return after a divergence: the episode ends on the last finite observation."""
        info = self._info(False, dict.fromkeys(self.reward_terms, 0.0), diverged=True)
        # A copy: the previous step returned these very arrays, and callers may keep them.
        return {k: v.copy() for k, v in self._last_obs.items()}, 0.0, True, False, info

    def _get_obs(self) -> dict[str, np.ndarray]:
        return self._observe()[0]

    def _observe(self) -> tuple[dict[str, np.ndarray], Measured]:
        """The observation, and what the reward reads (float64, from the same reads).

        Built from Python floats and cast to float32 once: on vectors this small, each numpy
        call costs more than the arithmetic (this is the env's hot path, see bench_env.py).
        """
        d = self.data
        qpos = d.qpos.tolist()  # one read: the hand, the fingers and the bananas
        sensors = d.sensordata.tolist()
        gx, gy, gz = d.site_xpos[self._tcp].tolist()
        left, right = qpos[self._finger_qpos]
        # Pads pressed together overlap by up to ~0.2 mm (soft joint limits): clip, so
        # the gap stays in its declared space [0, 0.1].
        gap = max(PAD_GAP_OPEN - (left + right), 0.0)
        values = [gx, gy, gz, qpos[self._yaw_qpos.start], gap, 0.0, 0.0]  # finger_contact: below
        distance, height, touching, grasped = [], [], [], []
        left_touch = right_touch = 0.0  # a pad's contacts with any banana
        fallen = False
        for q, left_pad, right_pad, rest_z in self._banana_reads:
            banana = qpos[q : q + 7]  # its position, then its orientation
            dx, dy, dz = banana[0] - gx, banana[1] - gy, banana[2] - gz
            values += banana
            values += (dx, dy, dz)
            distance.append(math.sqrt(dx * dx + dy * dy + dz * dz))
            height.append(banana[2] - rest_z)
            on_left, on_right = sensors[left_pad], sensors[right_pad]
            touching.append(on_left > 0 or on_right > 0)
            grasped.append(on_left > 0 and on_right > 0)
            left_touch += on_left
            right_touch += on_right
            fallen = fallen or banana[2] < FALLEN_Z
        values[5] = 1.0 if left_touch > 1.0 else left_touch  # noqa: FURB136
        values[6] = 1.0 if right_touch > 1.0 else right_touch  # noqa: FURB136
        values += self._constants
        flat = np.array(values, dtype=np.float32)
        # The dict holds views of this fresh array: nothing returned earlier is overwritten.
        obs = {key: flat[s] for key, s in self._slices.items()}
        if self._obs_mode == "pixels":
            pixels = {"pixels": self._pixels()}
            obs = {**pixels, **{key: obs[key] for key in PROPRIO_KEYS}} if self._with_proprio else pixels
        return obs, Measured(distance, height, touching, grasped, gap, fallen)

    # ------------------------------------------------- privileged state (experts)
    def state_observation(self) -> dict[str, np.ndarray]:
        """The privileged state observation (every banana), whatever ``obs_mode`` is (for scripted experts)."""
        if self.task is None:
            raise ResetNeeded("call reset() before state_observation()")
        mode, self._obs_mode = self._obs_mode, "state"
        try:
            return self._get_obs()
        finally:
            self._obs_mode = mode

    def banana_observation(self, slot: str) -> dict[str, np.ndarray]:
        """One banana's state in the one-banana format (``BananaGraspEnv.state_observation``):
        ``finger_contact`` counts the pads on this banana only. For scripted experts."""
        index = self._slots.get(slot)
        if index is None:
            raise ValueError(f"unknown slot {slot!r}; allowed: {', '.join(self._slots)}")
        state = self.state_observation()
        sensors = self.data.sensordata.tolist()
        contact = np.array([min(sensors[i], 1.0) for i in self._pad_sensors[index]], np.float32)
        return {
            "gripper_pos": state["gripper_pos"],
            "gripper_yaw": state["gripper_yaw"],
            "finger_opening": state["finger_opening"],
            "finger_contact": contact,
            **{one: state[key] for one, key in zip(ONE_BANANA_KEYS, self.bananas[index].keys)},
        }

    def target_observation(self) -> dict[str, np.ndarray]:
        """The state of the banana the family's expert should lift, in the one-banana format:
        ``ScriptedExpert().act`` lifts it."""
        return self.banana_observation(self._expert_target())
