"""Reptile (Nichol et al., 2018), first-order meta-learning of a PPO initialisation.

Each meta-iteration draws one training task, runs ``inner_updates`` PPO updates on it
from the current initialisation (all ``n_envs`` envs pinned to that task), and moves the
initialisation a fraction ``meta_step_size`` of the way to the adapted weights. The
result is saved as an ordinary PPO model, so it adapts to a new task by the same
fine-tuning as every other learner. Normalisation statistics are shared across tasks,
and so is the Adam optimiser's state (the inner loops are short: resetting it each
meta-iteration would leave its moment estimates almost always cold).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents import storage
from banana_grasp.agents.specs import LearnerSpec, hyperparameters
from banana_grasp.agents.training import (
    CurveAndCheckpoint,
    _truncate_curve,
    finish,
    new_model,
    resume_point,
    save_checkpoint,
    training_config,
)
from banana_grasp.agents.vec import env_factory, make_vec
from banana_grasp.envs import task_distribution


def _pinned_env(learner: LearnerSpec, task, n_envs: int, seed: int, layout: str, shared: VecNormalize) -> VecNormalize:
    venv = make_vec(env_factory(learner, learner.variation, "train", layout, task=task), n_envs, seed)
    # The same settings as the shared wrapper that new_model built (hyperparams.yaml: normalize).
    settings = hyperparameters(learner.hyperparameters)["normalize"]
    normalize = VecNormalize(venv, norm_obs_keys=shared.norm_obs_keys, **settings)
    normalize.obs_rms, normalize.ret_rms = shared.obs_rms, shared.ret_rms  # same objects: stats accumulate
    return normalize


def train_reptile(
    learner: LearnerSpec,
    seed: int,
    steps: int,
    folder: Path,
    position_layout: str = "interleaved",
    checkpoint_every: int = 20_000,
    on_rollout=None,
    algo_overrides: dict[str, Any] | None = None,
) -> dict:
    hp = hyperparameters(learner.hyperparameters)
    n_envs, inner_updates, epsilon = hp["n_envs"], hp["inner_updates"], hp["meta_step_size"]
    started = time.perf_counter()
    tasks = task_distribution(learner.variation, "train", position_layout)
    resume = resume_point(folder)
    if resume is not None:
        model, shared = storage.load_model(resume, PPO, tensorboard_log=str(folder / "tb"))
        _truncate_curve(folder, model.num_timesteps)
    else:
        _truncate_curve(folder, 0)
        first = make_vec(env_factory(learner, learner.variation, "train", position_layout), n_envs, seed)
        model = new_model(learner, first, seed, folder / "tb", **(algo_overrides or {}))
        shared = model.get_vec_normalize_env()
    inner_steps = inner_updates * model.n_steps * n_envs
    # The meta-iteration index seeds its task draw, so a resumed run continues the sequence.
    iteration = model.num_timesteps // inner_steps
    # Checkpoints only between meta-iterations: mid-iteration weights are adapted to one task,
    # not the meta-initialisation, and the iteration count is recovered from the steps.
    callback = CurveAndCheckpoint(folder, None, on_rollout)
    last_checkpoint = model.num_timesteps
    while model.num_timesteps < steps:
        rng = np.random.default_rng([seed, iteration])
        env = _pinned_env(learner, tasks.sample(rng), n_envs, seed + iteration, position_layout, shared)
        model.set_env(env)  # resets into the new task
        before = {k: v.clone() for k, v in model.policy.state_dict().items()}
        model.learn(inner_steps, callback=callback, reset_num_timesteps=False, tb_log_name="run")
        with torch.no_grad():
            after = model.policy.state_dict()
            model.policy.load_state_dict({k: before[k] + epsilon * (after[k] - before[k]) for k in before})
        iteration += 1
        env.close()  # its statistics live on in `shared`; the next iteration pins a new task
        if model.num_timesteps < steps and model.num_timesteps - last_checkpoint >= checkpoint_every:
            save_checkpoint(folder, model, training_config(learner, algo_overrides))
            last_checkpoint = model.num_timesteps
    return finish(learner, seed, model, folder, started, algo_overrides, meta_iterations=int(iteration))
