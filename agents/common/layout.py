"""Where every file of a run lives: the one place that knows the run folder's layout.

A run folder holds ``run.json`` (the preset it was made with), ``learners/<learner>/seed<n>/``
(one trained learner: see :class:`LearnerFiles`), ``outcomes/<learner>__seed<n>.json`` (its
evaluation), ``videos/``, ``plots/``, ``results.csv``, ``results.json`` and ``report.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LearnerFiles:
    """The files of one trained learner. ``meta.json`` is written last: it marks the learner complete
    and lists the SHA-256 of the files the learner loads from (``learners/storage.py``)."""

    folder: Path  # a str is taken as a path

    MODEL = "model.zip"
    NORMALIZE = "normalize.json"  # the VecNormalize statistics, as JSON
    LEGACY_NORMALIZE = "vecnormalize.pkl"  # the same as a pickle (banana-grasp <= 0.12): refused, converted
    META = "meta.json"
    STATE = "state.json"  # a checkpoint's step count, training configuration and SHA-256 of its files
    TRAINING = "training.json"  # how the learner was trained (``learners.training.TrainRun``)

    def __post_init__(self) -> None:
        if not isinstance(self.folder, (str, Path)):
            raise TypeError(f"a learner's folder is a path; got {self.folder!r}")
        object.__setattr__(self, "folder", Path(self.folder))

    @property
    def model(self) -> Path:
        return self.folder / self.MODEL

    @property
    def normalize(self) -> Path:
        return self.folder / self.NORMALIZE

    @property
    def legacy_normalize(self) -> Path:
        return self.folder / self.LEGACY_NORMALIZE

    @property
    def meta(self) -> Path:
        return self.folder / self.META

    @property
    def training(self) -> Path:
        return self.folder / self.TRAINING

    @property
    def curve(self) -> Path:
        return self.folder / "curve.csv"

    @property
    def tensorboard(self) -> Path:
        return self.folder / "tb"

    @property
    def checkpoint(self) -> LearnerFiles:
        """The last checkpoint of an unfinished training: a model, its normalisation and ``state.json``."""
        return LearnerFiles(self.folder / "checkpoint")

    @property
    def state(self) -> Path:
        return self.folder / self.STATE

    def is_complete(self) -> bool:
        return self.meta.is_file() and self.model.is_file() and self.normalize.is_file()


@dataclass(frozen=True)
class RunLayout:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    @property
    def learners(self) -> Path:
        return self.root / "learners"

    def learner(self, name: str, seed: int) -> LearnerFiles:
        return LearnerFiles(self.learners / name / f"seed{seed}")

    def outcomes(self, name: str, seed: int) -> Path:
        return self.root / "outcomes" / f"{name}__seed{seed}.json"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    def video(self, index: int) -> Path:
        return self.videos / f"heldout_task{index}.mp4"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def results_json(self) -> Path:
        return self.root / "results.json"

    @property
    def report(self) -> Path:
        return self.root / "report.md"
