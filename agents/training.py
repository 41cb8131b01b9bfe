"""Training one learner for one seed, with checkpoints so an interrupted run resumes.

``train(learner, seed, steps, folder)`` writes into ``folder``: the saved learner
(``storage``), ``curve.csv`` (training success against env steps), TensorBoard logs in
``tb/`` (``rollout/success_rate``, ``rollout/ep_rew_mean``, ``time/fps``) and, while it
runs, ``checkpoint/``. A folder that already holds this learner trained for at least
``steps`` is left alone; trained for fewer, training continues from it; a folder that
holds another learner is refused.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from banana_grasp.agents import storage
from banana_grasp.agents.specs import LearnerSpec, hyperparameters
from banana_grasp.agents.vec import env_factory, make_vec, normalized_keys

ALGORITHMS: dict[str, tuple[type[BaseAlgorithm], str]] = {
    "ppo": (PPO, "MultiInputPolicy"),
    "reptile": (PPO, "MultiInputPolicy"),
    "rl2": (RecurrentPPO, "MultiInputLstmPolicy"),
}
CURVE_FIELDS = ("steps", "success_rate", "episodes", "wall_seconds")


class CurveAndCheckpoint(BaseCallback):
    """After each rollout: one row of ``curve.csv``; every ``checkpoint_every`` steps: a checkpoint.

    One callback may serve several ``learn()`` calls (Reptile: one per meta-iteration), so
    the wall clock and the checkpoint counter start once, when the callback is made (after
    the curve is truncated to the checkpoint a run resumes from). ``checkpoint_every=None``:
    no checkpoints here (Reptile saves its own, between meta-iterations).
    """

    def __init__(self, folder: Path, checkpoint_every: int | None, on_rollout=None, config: dict | None = None) -> None:
        super().__init__()
        self.folder, self.checkpoint_every, self.on_rollout = folder, checkpoint_every, on_rollout
        self.config = config  # written into each checkpoint, checked on resume
        self._successes: list[bool] = []
        self._last_checkpoint: int | None = None
        self._started = time.perf_counter()
        self._wall_before = _last_wall(folder / "curve.csv")

    def _on_training_start(self) -> None:
        if self._last_checkpoint is None:
            self._last_checkpoint = self.num_timesteps

    def _on_rollout_start(self) -> None:
        # Here the previous rollout's update is done: a checkpoint holds exactly the
        # training of its step count, so a resumed run loses nothing.
        every = self.checkpoint_every
        if every is not None and self.num_timesteps - self._last_checkpoint >= every:
            save_checkpoint(self.folder, self.model, self.config)
            self._last_checkpoint = self.num_timesteps

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if done and "is_success" in info:
                self._successes.append(bool(info["is_success"]))
        return True

    def _on_rollout_end(self) -> None:
        rate = float(np.mean(self._successes)) if self._successes else float("nan")
        wall = self._wall_before + time.perf_counter() - self._started
        _append_curve(self.folder / "curve.csv", (self.num_timesteps, rate, len(self._successes), round(wall, 2)))
        self._successes = []
        if self.on_rollout is not None:
            self.on_rollout(self.num_timesteps)


def _append_curve(path: Path, row: tuple) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(CURVE_FIELDS)
        writer.writerow(row)


def _last_wall(path: Path) -> float:
    if not path.exists():
        return 0.0
    with open(path) as file:
        rows = list(csv.DictReader(file))
    return float(rows[-1]["wall_seconds"]) if rows else 0.0


def read_curve(folder: Path) -> list[dict[str, float]]:
    path = folder / "curve.csv"
    if not path.exists():
        return []
    with open(path) as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def save_checkpoint(folder: Path, model: BaseAlgorithm, config: dict | None = None) -> None:
    storage.save_model(folder / "checkpoint", model, model.get_vec_normalize_env())
    state = {"steps": int(model.num_timesteps), **(config or {})}
    storage.write_json_atomic(folder / "checkpoint" / "state.json", state)


def training_config(learner: LearnerSpec, algo_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a saved learner must share with a run that reuses or resumes it."""
    return {
        "learner": learner.name,
        "hyperparameters": hyperparameters(learner.hyperparameters),
        "algo_overrides": algo_overrides or {},
    }


def check_reusable(folder: Path, learner: LearnerSpec, config: dict) -> None:
    """Refuse to reuse or resume a learner saved with another learner, other
    hyperparameters or other overrides: it would silently stand in for this one."""
    for record in (folder / storage.META, folder / "checkpoint" / "state.json"):
        if not record.is_file():
            continue
        saved = storage.read_json(record)
        if saved.get("learner", learner.name) != learner.name:
            raise ValueError(f"{folder} holds learner {saved['learner']!r}, not {learner.name!r}: use another folder")
        for key, value in config.items():
            if key == "learner":
                continue
            if key in saved and saved[key] != value:
                raise ValueError(
                    f"{record} was trained with {key} {saved[key]}, but {learner.name!r} now has {value}: "
                    "use another folder, or delete this one to retrain"
                )


def resume_point(folder: Path) -> Path | None:
    """Where training continues from: the last checkpoint, else a finished learner (given
    a larger budget now), else nowhere (a fresh start)."""
    if (folder / "checkpoint" / "state.json").is_file():
        return folder / "checkpoint"
    return folder if storage.is_complete(folder) else None


def _truncate_curve(folder: Path, steps: int) -> None:
    """Drop curve rows past the checkpoint we resume from (they will be recorded again)."""
    rows = read_curve(folder)
    path = folder / "curve.csv"
    if path.exists():
        path.unlink()
    for row in rows:
        if row["steps"] <= steps:
            _append_curve(path, tuple(row[f] for f in CURVE_FIELDS))


def build_venv(learner: LearnerSpec, seed: int, trial_episodes: int, position_layout: str, **kwargs) -> VecEnv:
    hp = hyperparameters(learner.hyperparameters)
    factory = env_factory(learner, learner.variation, "train", position_layout, trial_episodes=trial_episodes, **kwargs)
    return make_vec(factory, hp["n_envs"], seed)


def new_model(learner: LearnerSpec, venv: VecEnv, seed: int, tensorboard: Path | None, **overrides: Any):
    hp = hyperparameters(learner.hyperparameters)
    algo, policy = ALGORITHMS[learner.kind]
    normalize = VecNormalize(
        venv, norm_obs_keys=normalized_keys(venv.observation_space, learner.normalize_all_keys), **hp["normalize"]
    )
    kwargs = {**hp["algo"], **overrides}
    return algo(
        policy,
        normalize,
        seed=seed,
        device="cpu",
        verbose=0,
        tensorboard_log=tensorboard and str(tensorboard),
        **kwargs,
    )


def train(
    learner: LearnerSpec,
    seed: int,
    steps: int,
    folder: Path,
    trial_episodes: int = 2,
    position_layout: str = "interleaved",
    checkpoint_every: int = 20_000,
    progress_bar: bool = False,
    on_rollout=None,
    algo_overrides: dict[str, Any] | None = None,
) -> dict:
    """Train (or resume, or skip) one learner; returns its metadata."""
    # Small networks: one thread is faster than several fighting over two cores.
    torch.set_num_threads(1)
    folder = Path(folder)
    if not learner.trained:
        raise ValueError(f"learner {learner.name!r} of kind {learner.kind!r} is not trained")
    config = training_config(learner, algo_overrides)
    check_reusable(folder, learner, config)
    if storage.is_complete(folder):
        meta = storage.read_json(folder / storage.META)
        if meta.get("steps", 0) >= steps:
            return meta
    folder.mkdir(parents=True, exist_ok=True)
    if learner.kind == "reptile":
        from banana_grasp.agents.reptile import train_reptile

        return train_reptile(
            learner, seed, steps, folder, position_layout, checkpoint_every, on_rollout, algo_overrides
        )

    started = time.perf_counter()
    venv = build_venv(learner, seed, trial_episodes, position_layout)
    algo, _ = ALGORITHMS[learner.kind]
    resume = resume_point(folder)
    if resume is not None:
        model, _ = storage.load_model(resume, algo, venv, tensorboard_log=str(folder / "tb"))
        _truncate_curve(folder, model.num_timesteps)
    else:
        _truncate_curve(folder, 0)
        model = new_model(learner, venv, seed, folder / "tb", **(algo_overrides or {}))
    callback = CurveAndCheckpoint(folder, checkpoint_every, on_rollout, config)
    remaining = steps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=CallbackList([callback]), reset_num_timesteps=False,
                    progress_bar=progress_bar, tb_log_name="run")  # fmt: skip
    extra = {"trial_episodes": trial_episodes} if learner.kind == "rl2" else {}
    return finish(learner, seed, model, folder, started, algo_overrides, **extra)


def finish(
    learner: LearnerSpec,
    seed: int,
    model: BaseAlgorithm,
    folder: Path,
    started: float,
    algo_overrides: dict[str, Any] | None = None,
    **extra,
) -> dict:
    storage.save_model(folder, model, model.get_vec_normalize_env())
    curve = read_curve(folder)
    meta = {
        **training_config(learner, algo_overrides),  # learner, hyperparameters, algo_overrides
        "kind": learner.kind,
        "variation": learner.variation,
        "greyscale": learner.greyscale,
        "seed": seed,
        "steps": int(model.num_timesteps),
        "final_train_success": next(
            (r["success_rate"] for r in reversed(curve) if r["success_rate"] == r["success_rate"]), None
        ),
        "wall_seconds": curve[-1]["wall_seconds"] if curve else round(time.perf_counter() - started, 2),
        "versions": storage.versions(),
        **extra,
    }
    storage.write_json_atomic(folder / storage.META, meta)
    shutil.rmtree(folder / "checkpoint", ignore_errors=True)
    return meta
