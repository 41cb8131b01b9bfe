"""Training one learner for one seed, whatever its kind.

:func:`train` checks the folder (a folder that already holds this learner trained for at
least ``steps`` is left alone; trained for fewer, training continues from it; a folder that
holds another learner, or this one with other hyperparameters, is refused) and hands over
to the kind's own ``train``. :func:`train_sb3` is that ``train`` for the kinds that are one
stable-baselines3 algorithm (PPO, and RL^2's TrialPPO, built on stable-baselines3's
OnPolicyAlgorithm).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from banana_grasp.agents.common.curves import truncate_curve
from banana_grasp.agents.common.files import read_json, write_json_atomic
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners import storage
from banana_grasp.agents.learners.checkpoints import (
    CHECKPOINT_EVERY,
    CurveAndCheckpoint,
    check_reusable,
    checkpoint_steps,
    finish,
    restart_streams,
    resume_point,
    training_config,
)
from banana_grasp.agents.learners.envs import EnvSpec, env_factory, make_vec, normalized_keys
from banana_grasp.agents.learners.policies.objects import algo_settings
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.stopping import SuccessCheck


@dataclass(frozen=True)
class TrainRun:
    """One learner's training, as data: what ``banana-grasp train`` and a comparison's job (in
    any process, on a Dask worker too) hand to :func:`train`, what a kind's ``train`` reads,
    and what :func:`train` saves beside the learner as ``training.json``."""

    learner: LearnerSpec
    seed: int
    steps: int  # the budget, in env steps
    folder: str
    trial_episodes: int = 2  # in-context learners: episodes per trial, k + 1
    position_layout: str = "interleaved"
    algo_overrides: dict[str, Any] = field(default_factory=dict)  # replace keys of the algorithm's settings
    # Stop once the deterministic policy succeeds this often on its training tasks (None: the
    # whole budget; see learners.stopping).
    stop_at_success: float | None = None
    own_k: int = 0  # the success check scores an in-context learner after this many episodes of a task
    checkpoint_every: int = CHECKPOINT_EVERY
    imports: tuple[str, ...] = ()  # modules that register the run's task families of one's own
    # How the run reports, not what it trains (not saved):
    progress_bar: bool = field(default=False, compare=False)
    on_rollout: Callable[[int], None] | None = field(default=None, compare=False)  # called with the env steps

    UNSAVED = ("folder", "progress_bar", "on_rollout")  # the record lies in the folder

    @property
    def label(self) -> str:
        return f"train {self.learner.name} seed {self.seed}"

    @property
    def files(self) -> LearnerFiles:
        return LearnerFiles(Path(self.folder))

    @property
    def train_tasks(self) -> EnvSpec:
        return EnvSpec(self.learner.variation, "train", self.position_layout)

    def record(self) -> dict[str, Any]:
        """The run as JSON data (the learner as its spec's fields), without its folder (where the
        record is saved) and how it reports."""
        return {f.name: asdict(self.learner) if f.name == "learner" else getattr(self, f.name)
                for f in fields(self) if f.name not in self.UNSAVED}  # fmt: skip

    def done_steps(self) -> int:
        """Env steps already trained (a finished learner, else the last checkpoint), at most the budget."""
        if self.is_done():
            return self.steps
        return min(checkpoint_steps(self.files), self.steps)

    def is_done(self) -> bool:
        return storage.is_trained_for(self.files, self.steps, self.stop_at_success)

    def success_check(self) -> SuccessCheck | None:
        if self.stop_at_success is None:
            return None
        return SuccessCheck(self.learner, self.train_tasks, self.seed, self.stop_at_success, self.files, self.own_k)


def train(run: TrainRun) -> dict:
    """Train (or resume, or skip) one learner into ``run.folder``; returns its metadata. The
    run's record is saved there as ``training.json`` before the kind trains."""
    learner, files = run.learner, run.files
    # Small networks: one thread is faster than several fighting over two cores.
    torch.set_num_threads(1)
    if not learner.trained:
        raise ValueError(f"learner {learner.name!r} of kind {learner.kind!r} is not trained")
    check_reusable(files, learner, training_config(learner, run.algo_overrides, run.trial_episodes))
    if run.is_done():
        return read_json(files.meta)
    files.folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(files.training, run.record())
    return learner.implementation.train(run)


def device_for(learner: LearnerSpec) -> str:
    """Where a learner trains: on a GPU, when torch sees one, if it is a pixel learner (its
    convolutions are most of its update); on the CPU otherwise, where stable-baselines3's PPO
    runs small MLPs faster. Evaluation loads every learner on the CPU."""
    return "cuda" if learner.observation == "pixels" and torch.cuda.is_available() else "cpu"


def new_model(
    learner: LearnerSpec,
    algo: type[BaseAlgorithm],
    policy: str,
    venv: VecEnv,
    seed: int,
    tensorboard: Path | None,
    **overrides: Any,
) -> BaseAlgorithm:
    """A fresh model with the learner's hyperparameters, on ``venv`` wrapped in its VecNormalize;
    its initialisation and sampling seeded by the policy stream of training seed ``seed``,
    on :func:`device_for` ``learner``."""
    hp = hyperparameters(learner.hyperparameters)
    normalize = VecNormalize(
        venv, norm_obs_keys=normalized_keys(venv.observation_space, learner.normalize_all_keys), **hp["normalize"]
    )
    return algo(policy, normalize, seed=SeedStreams(seed).policy(), device=device_for(learner), verbose=0,
                tensorboard_log=tensorboard and str(tensorboard), **algo_settings({**hp["algo"], **overrides}))  # fmt: skip


def start_or_resume(
    run: TrainRun,
    algo: type[BaseAlgorithm],
    policy: str,
    venv: VecEnv | None,
    make_venv: Callable[[], VecEnv] | None = None,
    algo_kwargs: dict[str, Any] | None = None,
) -> tuple[BaseAlgorithm, VecNormalize]:
    """The model to train on and its normalisation: from the last checkpoint or finished
    learner, else new.

    The curve keeps only the rows up to where training continues. The model gets ``venv``
    or, if that is None, ``make_venv()``, resumed or new (a model loaded without an env has
    no VecNormalize for its next save). A resumed model is loaded as the kind's blueprint
    makes it (``storage.load_model``), which is ``algo`` and ``policy`` with the same settings.
    ``algo_kwargs``: settings the kind derives itself (RL^2's ``n_steps``, the trial's
    length), over ``run.algo_overrides`` and, unlike them, not part of the saved record.
    """
    learner, files = run.learner, run.files
    resume = resume_point(files)
    venv = venv if venv is not None or make_venv is None else make_venv()
    if resume is not None:
        model, normalize = storage.load_model(
            resume, learner, venv, device_for(learner), tensorboard_log=str(files.tensorboard)
        )
        truncate_curve(files.curve, model.num_timesteps)
        return model, normalize
    truncate_curve(files.curve, 0)
    overrides = {**run.algo_overrides, **(algo_kwargs or {})}
    model = new_model(learner, algo, policy, venv, run.seed, files.tensorboard, **overrides)
    return model, model.get_vec_normalize_env()


def train_sb3(
    run: TrainRun,
    algo: type[BaseAlgorithm],
    policy: str,
    algo_kwargs: dict[str, Any] | None = None,
    **extra_meta: Any,
) -> dict:
    """Train one stable-baselines3 algorithm on the learner's training tasks, with checkpoints."""
    started = time.perf_counter()
    learner, seed, files = run.learner, run.seed, run.files
    hp = hyperparameters(learner.hyperparameters)
    factory = env_factory(learner, run.train_tasks, trial_episodes=run.trial_episodes)
    venv = make_vec(factory, SeedStreams(seed).envs(hp["n_envs"]))
    model, _ = start_or_resume(run, algo, policy, venv, algo_kwargs=algo_kwargs)
    if model.num_timesteps > 0:  # resumed: continue as a training that made a checkpoint here did
        restart_streams(model, seed)
    config = training_config(learner, run.algo_overrides, run.trial_episodes)
    check = run.success_check()
    callback = CurveAndCheckpoint(files, run.checkpoint_every, run.on_rollout, config, check, seed)
    remaining = run.steps - model.num_timesteps
    if remaining > 0:
        model.learn(remaining, callback=callback, reset_num_timesteps=False,
                    progress_bar=run.progress_bar, tb_log_name="run")  # fmt: skip
    if callback.stopped_at is not None:  # learn() took one more env step, to end: not trained on
        model.num_timesteps = callback.stopped_at
    if check is not None:
        extra_meta["success_checks"] = check.checks
        check.close()
    stopped = run.stop_at_success if callback.stopped_at is not None else None
    return finish(learner, seed, model, files, started, run.algo_overrides, stopped_at_success=stopped,
                  **extra_meta)  # fmt: skip
