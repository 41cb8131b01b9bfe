"""Learning curves, checkpoints, resume and the record that a saved learner must match.

A learner's folder is reused only for the same learner with the same hyperparameters:
``meta.json`` and each checkpoint's ``state.json`` record them (:func:`training_config`),
and :func:`check_reusable` refuses a folder saved with others before any training.

**Resume is exact.** A checkpoint holds the weights, the optimiser's state, the normalisation
statistics and the success checks made so far. What it does not hold, the envs' episodes in
progress and the random generators' states, training starts afresh at every checkpoint,
keyed by its step count (:func:`restart_streams`), whether or not the run stops there; a run
resumed from a checkpoint does the same. So an interrupted and resumed training ends with
the same weights, statistics and optimiser state, bit for bit, as one never interrupted
(tests/test_resume.py). The price: every ``checkpoint_every`` env steps, each env's episode
in progress is dropped (after the update that used it) and a new one starts.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import set_random_seed

from banana_grasp.agents.common import faults
from banana_grasp.agents.common.curves import append_curve, last_success, last_wall_seconds, read_curve
from banana_grasp.agents.common.files import read_json, versions, write_json_atomic
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners import storage
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.stopping import SuccessCheck

CHECKPOINT_EVERY = 20_000  # env steps between checkpoints, unless told otherwise


class CurveAndCheckpoint(BaseCallback):
    """After each rollout: one row of ``curve.csv``; every ``checkpoint_every`` steps: a checkpoint.

    One callback may serve several ``learn()`` calls (Reptile: one per meta-iteration), so
    the wall clock and the checkpoint counter start once, when the callback is made (after
    the curve is truncated to the checkpoint a run resumes from). ``checkpoint_every=None``:
    no checkpoints here (Reptile saves its own, between meta-iterations).

    ``check`` (``stopping.SuccessCheck``): asked before each rollout, once the previous update
    is done; when it says stop, the next step ends ``learn()`` and ``stopped_at`` holds the
    env steps trained. ``seed``: the training seed, whose streams start afresh after each
    checkpoint (:func:`restart_streams`; None: they run on).
    """

    def __init__(
        self,
        files: LearnerFiles,
        checkpoint_every: int | None,
        on_rollout: Callable[[int], None] | None = None,
        config: dict | None = None,
        check: SuccessCheck | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.check, self.seed = check, seed
        self.stopped_at: int | None = None
        self.files, self.checkpoint_every, self.on_rollout = files, checkpoint_every, on_rollout
        self.config = config  # written into each checkpoint, checked on resume
        self._successes: list[bool] = []
        self._last_checkpoint: int | None = None
        self._started = time.perf_counter()
        self._wall_before = last_wall_seconds(files.curve)

    def _on_training_start(self) -> None:
        if self._last_checkpoint is None:
            self._last_checkpoint = self.num_timesteps

    def _on_rollout_start(self) -> None:
        # Here the previous rollout's update is done: a checkpoint holds exactly the
        # training of its step count, so a resumed run loses nothing; and a check of the
        # policy sees all the training so far.
        if self.check is not None and self.check(self.model, self.num_timesteps):
            self.stopped_at = self.num_timesteps
            return
        every = self.checkpoint_every
        if every is not None and self.num_timesteps - self._last_checkpoint >= every:
            save_checkpoint(self.files, self.model, self.config, self.check)
            self._last_checkpoint = self.num_timesteps
            if self.seed is not None:
                restart_streams(self.model, self.seed)

    def _on_step(self) -> bool:
        if self.stopped_at is not None:
            return False
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if done and "is_success" in info:
                self._successes.append(bool(info["is_success"]))
        return True

    def _on_rollout_end(self) -> None:
        rate = float(np.mean(self._successes)) if self._successes else float("nan")
        wall = self._wall_before + time.perf_counter() - self._started
        append_curve(self.files.curve, (self.num_timesteps, rate, len(self._successes), round(wall, 2)))
        self._successes = []
        if self.on_rollout is not None:
            self.on_rollout(self.num_timesteps)


def save_checkpoint(
    files: LearnerFiles, model: BaseAlgorithm, config: dict | None = None, check: SuccessCheck | None = None
) -> None:
    """The model and its normalisation, then ``state.json``: the step count, ``config``, the
    success checks made so far (a resumed check continues their record and schedule) and the
    SHA-256 of both files. The previous ``state.json`` goes first: a record never lists files
    other than those beside it."""
    files.checkpoint.state.unlink(missing_ok=True)
    digests = storage.save_model(files.checkpoint, model)
    checks = {"success_checks": check.checks} if check is not None else {}
    write_json_atomic(files.checkpoint.state,
                      {"steps": int(model.num_timesteps), **(config or {}), **checks, "sha256": digests})  # fmt: skip
    faults.reached(f"checkpoint:{(config or {}).get('learner')}")


def restart_streams(model: BaseAlgorithm, seed: int) -> None:
    """Start the training's random streams afresh, keyed by its step count: its envs get the
    seeds ``SeedStreams(seed).envs(n, steps)`` and are reset (an episode in progress is dropped),
    and the policy's sampling (torch, numpy, random) the seed ``SeedStreams(seed).policy(steps)``.
    Done after every checkpoint and by a run that resumes from one, so that both continue alike."""
    steps, streams, env = int(model.num_timesteps), SeedStreams(seed), model.get_env()
    env.unwrapped.env_seeds = streams.envs(env.num_envs, steps)
    env.unwrapped.seed()
    model._last_obs = env.reset()
    model._last_episode_starts = np.ones(env.num_envs, dtype=bool)
    set_random_seed(streams.policy(steps))


def checkpoint_steps(files: LearnerFiles) -> int:
    """Env steps of the last checkpoint of an unfinished training (0 if there is none)."""
    state = files.checkpoint.state
    return int(read_json(state)["steps"]) if state.is_file() else 0


def training_config(
    learner: LearnerSpec, algo_overrides: dict[str, Any] | None = None, trial_episodes: int | None = None
) -> dict[str, Any]:
    """What a saved learner must share with a run that reuses or resumes it; for a learner
    that adapts in context, the length of its trials too (its memory is trained on them)."""
    config = {
        "learner": learner.name,
        "hyperparameters": hyperparameters(learner.hyperparameters),
        "algo_overrides": algo_overrides or {},
    }
    if learner.in_context and trial_episodes is not None:
        config["trial_episodes"] = trial_episodes
    return config


def check_reusable(files: LearnerFiles, learner: LearnerSpec, config: dict) -> None:
    """Refuse to reuse or resume a learner saved in the old form, with files that do not match
    their record's SHA-256 (``storage.check_saved``), or with another learner, other
    hyperparameters or other overrides: it would silently stand in for this one."""
    for saved in (files, files.checkpoint):
        storage.refuse_old_form(saved)
    if files.is_complete():
        storage.check_saved(files)
    if files.checkpoint.state.is_file():
        storage.check_saved(files.checkpoint)
    for record in (files.meta, files.checkpoint.state):
        if not record.is_file():
            continue
        saved = read_json(record)
        if saved.get("learner", learner.name) != learner.name:
            raise ValueError(
                f"{files.folder} holds learner {saved['learner']!r}, not {learner.name!r}: use another folder"
            )
        for key, value in config.items():
            if key == "learner":
                continue
            if key in saved and saved[key] != value:
                raise ValueError(
                    f"{record} was trained with {key} {saved[key]}, but {learner.name!r} now has {value}: "
                    "use another folder, or delete this one to retrain"
                )


def resume_point(files: LearnerFiles) -> LearnerFiles | None:
    """Where training continues from: the last checkpoint, else a finished learner (given
    a larger budget now), else nowhere (a fresh start)."""
    if files.checkpoint.state.is_file():
        return files.checkpoint
    return files if files.is_complete() else None


def finish(
    learner: LearnerSpec,
    seed: int,
    model: BaseAlgorithm,
    files: LearnerFiles,
    started: float,
    algo_overrides: dict[str, Any] | None = None,
    stopped_at_success: float | None = None,
    **extra: Any,
) -> dict:
    """Save the finished learner, write ``meta.json`` (last, with the SHA-256 of its files; a
    previous one goes first) and drop the checkpoint.
    ``stopped_at_success``: the threshold that ended training before its budget, if one did."""
    files.meta.unlink(missing_ok=True)
    digests = storage.save_model(files, model)
    curve = read_curve(files.curve)
    meta = {
        **training_config(learner, algo_overrides),  # learner, hyperparameters, algo_overrides
        "kind": learner.kind,
        "variation": learner.variation,
        "greyscale": learner.greyscale,
        "seed": seed,
        "steps": int(model.num_timesteps),
        "final_train_success": last_success(curve),
        "stopped_at_success": stopped_at_success,
        "wall_seconds": curve[-1]["wall_seconds"] if curve else round(time.perf_counter() - started, 2),
        "versions": versions(),
        **extra,
        "sha256": digests,
    }
    write_json_atomic(files.meta, meta)
    shutil.rmtree(files.checkpoint.folder, ignore_errors=True)
    return meta
