"""Golden rollouts: record an env's trajectory as plain arrays, to pin its dynamics in tests.

A test that replays today's code against itself cannot see a change of the action scale, a
servo gain, a mass or a friction: the scripted expert still lifts. A golden file stores one
rollout per id as it was when the id's version was released; ``tests/test_golden.py`` replays
it and compares float for float, so any change to an id's dynamics, observations, reward or
task sampling fails until the id's version is bumped (and its golden file regenerated).

A rollout is a flat ``dict[str, np.ndarray]`` with no object arrays, so that it survives
``np.savez_compressed`` and ``np.load(..., allow_pickle=False)``:

- ``actions``: the actions stepped, ``(steps, 5)`` float32;
- ``obs.<key>``: each observation key stacked, the reset observation first, ``(steps + 1, ...)``;
  images are stored by hash: ``obs.pixels.sha256`` (hex digests, one a frame) and
  ``obs.pixels.shape``, plus ``state.<key>`` from ``state_observation()`` (what the images show);
- ``reward``, ``terminated``, ``truncated``: one a step;
- ``reset_info.<key>`` and ``info.<key>`` (one a step): every info value, encoded by
  :func:`encode`: booleans and numbers as they are, a string as itself and None as the empty
  string, a dataclass (``task``, ``scene``) or a dict (``reward_terms``) as the float64 vector of
  its leaves (as a string vector if a leaf is a string: a ``HiddenSideTask``'s side).

Used by ``scripts/make_golden.py`` (writes or checks the files) and ``tests/test_golden.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from banana_grasp.envs.expert import ScriptedExpert

ACTION_SIZE = 5  # (dx, dy, dz, dyaw, grip)
FIXED_STEPS = 36  # about a third of an episode: a descent, a grasp, a lift and some free motion
FIXED_SEED = 0  # reset seed and action seed of every id's fixed rollout
EXPERT_SEED = 1  # reset seed of the expert's whole episodes
EXPERT_IDS = ("BananaGrasp/Lift-HeldOut-v3", "BananaGrasp/Lift-v0", "BananaGrasp/Lift-HiddenTarget-v4")
PIXEL_ID = "BananaGrasp/Lift-Position-v3"
PIXEL_KWARGS = (("obs_mode", "pixels"), ("pixel_size", 64))
NAMESPACE = "BananaGrasp/"


@dataclass(frozen=True)
class Rollout:
    """What one golden rollout of an id is: its name in the golden file and how to record it."""

    name: str  # prefix of the rollout's arrays in the file: "<name>.obs.gripper_pos", ...
    seed: int
    expert: bool = False  # the scripted expert for a whole episode, else golden_actions(seed, steps)
    steps: int = FIXED_STEPS
    make_kwargs: tuple[tuple[str, Any], ...] = field(default=())


def registered_ids() -> list[str]:
    """Every id this package registers with Gymnasium (each needs a golden file)."""
    return sorted(env_id for env_id in gym.registry if env_id.startswith(NAMESPACE))


def rollouts(env_id: str) -> tuple[Rollout, ...]:
    """The golden rollouts of ``env_id``: a short fixed action sequence for every id, plus the
    expert's whole episode for EXPERT_IDS and a pixel rollout for PIXEL_ID."""
    found = [Rollout("fixed", FIXED_SEED)]
    if env_id in EXPERT_IDS:
        found.append(Rollout("expert", EXPERT_SEED, expert=True))
    if env_id == PIXEL_ID:
        found.append(Rollout("pixels", FIXED_SEED, make_kwargs=PIXEL_KWARGS))
    return tuple(found)


def golden_actions(seed: int, steps: int = FIXED_STEPS) -> np.ndarray:
    """A fixed action sequence, ``(steps, 5)`` float32, a function of ``seed`` only.

    Random actions alone move the gripper in free space and seldom touch anything, so the
    sequence opens with a scripted part (the gripper starts near the table's middle, where
    the banana lies in the ids without position variation): straight down with the fingers
    open onto the banana and the table (contacts), close (the grip servo, the pads' force
    limit), lift (the banana's mass, if held, and friction). Uniform random actions in
    [-1, 1] follow (every axis and the yaw servo, saturated and not).
    """
    rng = np.random.default_rng(seed)
    down, close, lift = 9, 6, 6
    scripted = np.zeros((down + close + lift, ACTION_SIZE))
    scripted[:down] = (0.0, 0.0, -1.0, 0.0, -1.0)
    scripted[down : down + close] = (0.0, 0.0, -0.25, 0.0, 1.0)
    scripted[down + close :] = (0.0, 0.0, 1.0, 0.0, 1.0)
    scripted[:, :2] += rng.uniform(-0.1, 0.1, (len(scripted), 2))  # a little drift, seed-dependent
    free = rng.uniform(-1.0, 1.0, (max(steps - len(scripted), 0), ACTION_SIZE))
    return np.concatenate([scripted, free])[:steps].astype(np.float32)


def encode(value: Any) -> np.ndarray:
    """One info value as a plain (non-object) array; see the module's docstring. Raises
    TypeError for a type it does not know, so that a new info key is encoded on purpose."""
    if value is None:
        return np.array("")
    if isinstance(value, (bool, np.bool_, int, float, np.number, str)):
        return np.array(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _vector(list(_leaves(dataclasses.astuple(value))))
    if isinstance(value, Mapping):
        return _vector(list(_leaves(value[k] for k in sorted(value))))
    raise TypeError(f"cannot encode an info value of type {type(value).__name__}: extend golden.encode")


def _leaves(values: Iterable[Any]) -> Iterable[float | str]:
    """The floats (and strings) of nested tuples and lists, depth first (astuple nests a scene's tasks' colours)."""
    for value in values:
        if isinstance(value, (tuple, list)):
            yield from _leaves(value)
        else:
            yield value if isinstance(value, str) else float(value)


def _vector(leaves: list[float | str]) -> np.ndarray:
    """Leaves as float64, or as strings if any is one (a number among them then as its repr)."""
    return np.array(leaves, str if any(isinstance(leaf, str) for leaf in leaves) else np.float64)


def make(env_id: str, **make_kwargs: Any) -> gym.Env:
    """``gym.make`` without the warning that an earlier version is out of date (it is on purpose)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
        return gym.make(env_id, **make_kwargs)


def record(
    env_id: str, seed: int, actions: np.ndarray | None, expert: bool = False, **make_kwargs: Any
) -> dict[str, np.ndarray]:
    """Reset ``gym.make(env_id, **make_kwargs)`` with ``seed`` and step ``actions``, or with
    ``expert=True`` the scripted expert (aimed at the target in the hidden-target ids), until
    the actions run out or the episode ends; the rollout as flat arrays (module docstring)."""
    if (actions is None) != expert:
        raise ValueError("give either actions or expert=True")
    env = make(env_id, **make_kwargs)
    try:
        unwrapped = env.unwrapped
        policy = ScriptedExpert() if expert else None
        first, reset_info = env.reset(seed=seed)
        observations, states, infos, taken, rewards, ends = [first], [], [], [], [], []
        pixels = "pixels" in first
        if pixels:
            states.append(unwrapped.state_observation())
        for t in range(env.spec.max_episode_steps if expert else len(actions)):
            if policy is not None:
                action = policy.act(unwrapped.target_observation())  # the family says which banana
            else:
                action = np.asarray(actions[t], np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            taken.append(action)
            observations.append(obs)
            rewards.append(reward)
            ends.append((terminated, truncated))
            infos.append(info)
            if pixels:
                states.append(unwrapped.state_observation())
            if terminated or truncated:
                break
    finally:
        env.close()
    arrays = {"actions": np.array(taken, np.float32).reshape(-1, ACTION_SIZE)}
    arrays |= _stack_obs("obs", observations)
    arrays |= _stack_obs("state", states)
    arrays["reward"] = np.array(rewards, np.float64)
    arrays["terminated"] = np.array([end[0] for end in ends], bool)
    arrays["truncated"] = np.array([end[1] for end in ends], bool)
    arrays |= {f"reset_info.{key}": encode(value) for key, value in reset_info.items()}
    for key in sorted({key for info in infos for key in info}):
        if not all(key in info for info in infos):
            raise ValueError(f"info[{key!r}] is missing at some steps of {env_id}: cannot stack it")
        arrays[f"info.{key}"] = np.stack([encode(info[key]) for info in infos])
    return arrays


def _stack_obs(prefix: str, observations: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each key stacked over steps; images as SHA-256 digests of their bytes, and their shape."""
    arrays = {}
    for key in observations[0] if observations else ():
        values = [np.asarray(obs[key]) for obs in observations]
        if key == "pixels":
            digests = [hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest() for frame in values]
            arrays[f"{prefix}.pixels.sha256"] = np.array(digests)
            arrays[f"{prefix}.pixels.shape"] = np.array([frame.shape for frame in values], np.int64)
        else:
            arrays[f"{prefix}.{key}"] = np.stack(values)
    return arrays


def record_golden(env_id: str, **override: Any) -> dict[str, np.ndarray]:
    """Every golden rollout of ``env_id``, prefixed with its name (``fixed.obs.gripper_pos``).
    ``override`` adds make keywords to each (a test uses it to change a physical constant)."""
    arrays = {}
    for spec in rollouts(env_id):
        actions = None if spec.expert else golden_actions(spec.seed, spec.steps)
        kwargs = dict(spec.make_kwargs) | override
        rollout = record(env_id, spec.seed, actions, expert=spec.expert, **kwargs)
        arrays |= {f"{spec.name}.{key}": value for key, value in rollout.items()}
    return arrays


def golden_path(directory: Path, env_id: str) -> Path:
    """The golden file of ``env_id`` in ``directory``: ``BananaGrasp/Lift-v3`` -> ``Lift-v3.npz``."""
    if not env_id.startswith(NAMESPACE):
        raise ValueError(f"{env_id!r} is not a {NAMESPACE} id")
    return Path(directory) / f"{env_id.removeprefix(NAMESPACE)}.npz"


def save(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` compressed; refuses object arrays, which need pickle to load."""
    for key, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"{key} is an object array")
    np.savez_compressed(path, **arrays)


def load(path: Path) -> dict[str, np.ndarray]:
    """A golden file's arrays (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def first_mismatch(expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray]) -> str | None:
    """Where ``actual`` first differs from ``expected`` (keys, dtypes, shapes, then values, exactly,
    in sorted key order), or None if they are equal float for float."""
    if set(expected) != set(actual):
        missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
        return f"keys differ: missing {missing}, unexpected {extra}"
    for key in sorted(expected):
        want, got = expected[key], actual[key]
        if want.dtype != got.dtype or want.shape != got.shape:
            return f"{key}: expected {want.dtype}{want.shape}, got {got.dtype}{got.shape}"
        unequal = want != got
        if want.dtype.kind == "f":
            unequal &= ~(np.isnan(want) & np.isnan(got))
        if unequal.any():
            index = tuple(int(i) for i in np.argwhere(unequal)[0])
            return f"{key}{list(index)}: expected {want[index]!r}, got {got[index]!r}"
    return None
