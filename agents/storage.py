"""Saving and loading trained learners: an SB3 zip, VecNormalize statistics, metadata.

A learner's folder holds ``model.zip``, ``vecnormalize.pkl`` and ``meta.json``; the
metadata is written last, so its presence means the learner is complete. Every file is
written to a temporary name and renamed, so an interrupted write never leaves half a file.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

MODEL, NORMALIZE, META = "model.zip", "vecnormalize.pkl", "meta.json"


def versions() -> dict[str, str]:
    names = ("banana-grasp", "mujoco", "gymnasium", "stable-baselines3", "sb3-contrib", "torch", "numpy")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"corrupt JSON file {path}: {error}") from error


def save_model(folder: Path, model: BaseAlgorithm, normalize: VecNormalize) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.tmp.zip"
    model.save(tmp)
    os.replace(tmp, folder / MODEL)
    tmp = folder / (NORMALIZE + ".tmp")
    normalize.save(tmp)
    os.replace(tmp, folder / NORMALIZE)


def is_complete(folder: Path) -> bool:
    return (folder / META).is_file() and (folder / MODEL).is_file() and (folder / NORMALIZE).is_file()


def trained_steps(folder: Path) -> int:
    """Env steps of the complete learner saved in ``folder`` (0 if there is none)."""
    return int(read_json(folder / META)["steps"]) if is_complete(folder) else 0


def load_model(folder: Path, algo: type[BaseAlgorithm], venv: VecEnv | None = None, **overrides: Any):
    """Load ``model.zip`` and ``vecnormalize.pkl`` from ``folder``; clear errors name the file.

    Returns ``(model, normalize)``; ``normalize`` wraps ``venv`` when one is given.
    ``overrides`` replace saved attributes (SB3's ``custom_objects``).
    """
    model_path, normalize_path = folder / MODEL, folder / NORMALIZE
    for path in (model_path, normalize_path):
        if not path.is_file():
            raise FileNotFoundError(f"missing file: {path} (train this learner first, or check the run folder)")
    try:
        with open(normalize_path, "rb") as file:
            normalize: VecNormalize = pickle.load(file)
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, ImportError) as error:
        raise ValueError(f"corrupt normalisation file {normalize_path}: {error}") from error
    if not isinstance(normalize, VecNormalize):
        raise ValueError(f"corrupt normalisation file {normalize_path}: holds {type(normalize).__name__}")  # noqa: TRY004 (a corrupt file, as above)
    if venv is not None:
        normalize.set_venv(venv)
    try:
        model = algo.load(
            model_path, env=normalize if venv is not None else None, device="cpu", custom_objects=overrides
        )
    # AssertionError: SB3 asserts that the zip holds "data"; a truncated model.zip can still
    # open as a zip (the .pth files inside are zips too) and fail only there.
    except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, EOFError, AssertionError) as error:
        raise ValueError(f"corrupt model file {model_path}: {error}") from error
    return model, normalize
