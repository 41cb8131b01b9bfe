"""A VecNormalize's statistics as JSON, and the VecNormalize rebuilt from them.

stable-baselines3 saves a VecNormalize as a pickle (``VecNormalize.save``), and a pickle runs
code when it is loaded. What a VecNormalize holds beyond its env (its ``__getstate__``) is
numbers: the running mean, variance and count of each normalised observation key
(``obs_rms``) and of the discounted return (``ret_rms``), and its settings (``training``,
``norm_obs``, ``norm_reward``, ``clip_obs``, ``clip_reward``, ``gamma``, ``epsilon``,
``norm_obs_keys``); its spaces come from the env it wraps, and its last observation and
reward are overwritten at the next step. Here those numbers are written as JSON, each array
with its dtype and shape. Python writes a float as the shortest text that reads back as the
same double, so a rebuilt VecNormalize holds the same statistics, bit for bit, and normalises
observations and rewards exactly as the pickled one did (tests/test_safe_loading.py).

A file is data: it is checked against the env it is rebuilt around (the keys and the shape of
each key's statistics), and any mismatch is an error naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from banana_grasp.agents.common.files import read_json, write_json_atomic

FORMAT = "banana-grasp VecNormalize statistics 1"
FLAGS = ("training", "norm_obs", "norm_reward")
NUMBERS = ("clip_obs", "clip_reward", "gamma", "epsilon")
DTYPES = ("float64", "float32")  # what RunningMeanStd holds (float64; float32 if given so)


def to_data(normalize: VecNormalize) -> dict[str, Any]:
    """What ``normalize`` holds that matters, as JSON-ready data."""
    obs_rms = getattr(normalize, "obs_rms", None)
    if isinstance(obs_rms, dict):
        obs = {key: _rms(rms) for key, rms in obs_rms.items()}
    else:
        obs = None if obs_rms is None else _rms(obs_rms)
    keys = normalize.norm_obs_keys
    return {
        "format": FORMAT,
        **{name: bool(getattr(normalize, name)) for name in FLAGS},
        **{name: float(getattr(normalize, name)) for name in NUMBERS},
        "norm_obs_keys": None if keys is None else list(keys),
        "obs_rms": obs,
        "ret_rms": _rms(normalize.ret_rms),
    }


def write(path: Path, normalize: VecNormalize) -> None:
    """Write ``normalize``'s statistics to ``path`` (atomically)."""
    write_json_atomic(path, to_data(normalize))


def read(path: Path) -> dict[str, Any]:
    """The statistics saved at ``path``, their settings checked (the arrays are checked by :func:`build`)."""
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"corrupt normalisation file {path}: format {found!r}; allowed: {FORMAT!r}")
    for name in FLAGS:
        if not isinstance(data.get(name), bool):
            raise ValueError(  # noqa: TRY004 (a corrupt file, not a caller's wrong type)
                f"corrupt normalisation file {path}: {name} is {data.get(name)!r}; allowed: true, false"
            )
    for name in NUMBERS:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise ValueError(f"corrupt normalisation file {path}: {name} is {value!r}; allowed: a number")
    keys = data.get("norm_obs_keys")
    if keys is not None and not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise ValueError(f"corrupt normalisation file {path}: norm_obs_keys is {keys!r}; allowed: a list of names")
    return data


def build(data: dict[str, Any], venv: VecEnv, path: Path) -> VecNormalize:
    """A VecNormalize around ``venv`` holding the statistics ``data`` (read from ``path``,
    which errors name). The keys and shapes must be those of ``venv``'s observations."""
    keys = data["norm_obs_keys"]
    space_keys = list(getattr(venv.observation_space, "spaces", {}))
    unknown = [key for key in keys or () if key not in space_keys]
    if unknown:
        raise ValueError(f"corrupt normalisation file {path}: norm_obs_keys {unknown} are not observation keys "
                         f"of this learner; allowed: {', '.join(space_keys)}")  # fmt: skip
    normalize = VecNormalize(venv, norm_obs_keys=keys, **{name: data[name] for name in (*FLAGS, *NUMBERS)})
    if data["norm_obs"]:
        saved = data.get("obs_rms")
        if isinstance(normalize.obs_rms, dict):
            if not isinstance(saved, dict) or set(saved) != set(normalize.obs_rms):
                raise ValueError(f"corrupt normalisation file {path}: obs_rms must hold one entry per key of "
                                 f"norm_obs_keys ({', '.join(normalize.obs_rms)})")  # fmt: skip
            for key, rms in normalize.obs_rms.items():
                _fill(rms, saved[key], path, f"obs_rms[{key!r}]")
        else:
            _fill(normalize.obs_rms, saved, path, "obs_rms")
    _fill(normalize.ret_rms, data.get("ret_rms"), path, "ret_rms")
    return normalize


def _rms(rms: RunningMeanStd) -> dict[str, Any]:
    return {"mean": _array(rms.mean), "var": _array(rms.var), "count": float(rms.count)}


def _array(value: Any) -> dict[str, Any]:
    array = np.asarray(value)
    return {"dtype": array.dtype.name, "shape": list(array.shape), "values": array.ravel().tolist()}


def _fill(rms: RunningMeanStd, saved: Any, path: Path, where: str) -> None:
    """Set ``rms``'s mean, variance and count from ``saved``, whose shapes must be ``rms``'s."""
    if not isinstance(saved, dict):
        raise ValueError(f"corrupt normalisation file {path}: {where} is missing or not an object")  # noqa: TRY004
    count = saved.get("count")
    if isinstance(count, bool) or not isinstance(count, (int, float)) or not count > 0:
        raise ValueError(f"corrupt normalisation file {path}: {where}.count is {count!r}; allowed: a number > 0")
    rms.mean = _read_array(saved.get("mean"), np.shape(rms.mean), path, f"{where}.mean")
    rms.var = _read_array(saved.get("var"), np.shape(rms.var), path, f"{where}.var")
    rms.count = count


def _read_array(saved: Any, shape: tuple[int, ...], path: Path, where: str) -> np.ndarray:
    if not isinstance(saved, dict) or saved.get("dtype") not in DTYPES:
        found = saved.get("dtype") if isinstance(saved, dict) else saved
        raise ValueError(
            f"corrupt normalisation file {path}: {where} has dtype {found!r}; allowed: {', '.join(DTYPES)}"
        )
    if saved.get("shape") != list(shape):
        raise ValueError(f"corrupt normalisation file {path}: {where} has shape {saved.get('shape')}, but this "
                         f"learner's observations give {list(shape)}")  # fmt: skip
    values = saved.get("values")
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"corrupt normalisation file {path}: {where}.values must be a list of numbers")
    if len(values) != math.prod(shape):
        raise ValueError(
            f"corrupt normalisation file {path}: {where} holds {len(values)} values for shape {list(shape)}"
        )
    return np.asarray(values, dtype=saved["dtype"]).reshape(shape)
