"""Saving and loading a trained learner: an SB3 zip and its VecNormalize statistics.

Every file is written to a temporary name and renamed, so an interrupted write never
leaves half a file; ``meta.json`` (written by the trainer, last) marks a learner complete.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from banana_grasp.agents.common.files import read_json
from banana_grasp.agents.common.layout import LearnerFiles


def save_model(files: LearnerFiles, model: BaseAlgorithm) -> None:
    files.folder.mkdir(parents=True, exist_ok=True)
    tmp = files.folder / "model.tmp.zip"
    model.save(tmp)
    os.replace(tmp, files.model)
    tmp = files.normalize.with_name(files.NORMALIZE + ".tmp")
    model.get_vec_normalize_env().save(tmp)
    os.replace(tmp, files.normalize)


def trained_steps(files: LearnerFiles) -> int:
    """Env steps of the complete learner saved in ``files`` (0 if there is none)."""
    return int(read_json(files.meta)["steps"]) if files.is_complete() else 0


def is_trained_for(files: LearnerFiles, steps: int, stop_at_success: float | None) -> bool:
    """Whether a complete learner is saved for this budget: trained ``steps`` env steps, or
    stopped earlier on reaching the same ``stop_at_success``."""
    if not files.is_complete():
        return False
    meta = read_json(files.meta)
    stopped = meta.get("stopped_at_success") is not None and meta["stopped_at_success"] == stop_at_success
    return int(meta["steps"]) >= steps or stopped


def load_model(
    files: LearnerFiles, algo: type[BaseAlgorithm], venv: VecEnv | None = None, device: str = "cpu", **overrides: Any
):
    """Load the model and its normalisation from ``files``; clear errors name the file.

    Returns ``(model, normalize)``; ``normalize`` wraps ``venv`` when one is given; the
    model's networks are on ``device``.
    ``overrides`` replace saved attributes (SB3's ``custom_objects``).
    """
    for path in (files.model, files.normalize):
        if not path.is_file():
            raise FileNotFoundError(f"missing file: {path} (train this learner first, or check the run folder)")
    try:
        with open(files.normalize, "rb") as file:
            normalize: VecNormalize = pickle.load(file)
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, ImportError) as error:
        raise ValueError(f"corrupt normalisation file {files.normalize}: {error}") from error
    if not isinstance(normalize, VecNormalize):
        raise ValueError(f"corrupt normalisation file {files.normalize}: holds {type(normalize).__name__}")  # noqa: TRY004 (a corrupt file, as above)
    if venv is not None:
        normalize.set_venv(venv)
    try:
        model = algo.load(
            files.model, env=normalize if venv is not None else None, device=device, custom_objects=overrides
        )
    # AssertionError: SB3 asserts that the zip holds "data"; a truncated model.zip can still
    # open as a zip (the .pth files inside are zips too) and fail only there.
    except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, EOFError, AssertionError) as error:
        raise ValueError(f"corrupt model file {files.model}: {error}") from error
    return model, normalize
