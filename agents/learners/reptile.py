"""Reptile (Nichol et al., 2018), first-order meta-learning of a PPO initialisation.

Each meta-iteration draws one training task, runs ``inner_updates`` PPO updates on it
from the current initialisation (all ``n_envs`` envs pinned to that task), and moves the
initialisation a fraction ``meta_step_size`` of the way to the adapted weights. The
result is saved as an ordinary PPO model, so it adapts to a new task by the same
fine-tuning as every other learner (``ppo.PolicyAgent``). Normalisation statistics are
shared across tasks, and so is the Adam optimiser's state (the inner loops are short:
resetting it each meta-iteration would leave its moment estimates almost always cold).
"""

from __future__ import annotations

import time

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners.checkpoints import CurveAndCheckpoint, finish, save_checkpoint, training_config
from banana_grasp.agents.learners.envs import env_factory, make_vec
from banana_grasp.agents.learners.ppo import POLICY, load_agent
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.training import TrainSettings, start_or_resume
from banana_grasp.envs import Task, task_distribution

__all__ = ["load_agent", "train"]


def _pinned_env(learner: LearnerSpec, task: Task, seeds: list[int], settings: TrainSettings, shared: VecNormalize):
    hp = hyperparameters(learner.hyperparameters)
    venv = make_vec(env_factory(learner, settings.train_tasks(learner), task=task), seeds)
    # The same settings as the shared wrapper that new_model built (hyperparams.yaml: normalize).
    normalize = VecNormalize(venv, norm_obs_keys=shared.norm_obs_keys, **hp["normalize"])
    normalize.obs_rms, normalize.ret_rms = shared.obs_rms, shared.ret_rms  # same objects: stats accumulate
    return normalize


def train(learner: LearnerSpec, seed: int, steps: int, files: LearnerFiles, settings: TrainSettings) -> dict:
    hp = hyperparameters(learner.hyperparameters)
    n_envs, inner_updates, epsilon = hp["n_envs"], hp["inner_updates"], hp["meta_step_size"]
    started = time.perf_counter()
    tasks = task_distribution(learner.variation, "train", settings.position_layout)
    streams = SeedStreams(seed)
    first = lambda: make_vec(env_factory(learner, settings.train_tasks(learner)), streams.envs(n_envs))
    model, shared = start_or_resume(learner, PPO, POLICY, None, seed, files, settings, make_venv=first)
    inner_steps = inner_updates * model.n_steps * n_envs
    # The meta-iteration index keys its task draw and envs, so a resumed run continues the sequence.
    iteration = model.num_timesteps // inner_steps
    # Checkpoints only between meta-iterations: mid-iteration weights are adapted to one task,
    # not the meta-initialisation, and the iteration count is recovered from the steps.
    callback = CurveAndCheckpoint(files, None, settings.on_rollout)
    config = training_config(learner, settings.algo_overrides)
    last_checkpoint = model.num_timesteps
    while model.num_timesteps < steps:
        task = tasks.sample(streams.tasks(iteration))
        env = _pinned_env(learner, task, streams.envs(n_envs, iteration), settings, shared)
        model.set_env(env)  # resets into the new task
        before = {k: v.clone() for k, v in model.policy.state_dict().items()}
        model.learn(inner_steps, callback=callback, reset_num_timesteps=False, tb_log_name="run")
        with torch.no_grad():
            after = model.policy.state_dict()
            model.policy.load_state_dict({k: before[k] + epsilon * (after[k] - before[k]) for k in before})
        iteration += 1
        env.close()  # its statistics live on in `shared`; the next iteration pins a new task
        if model.num_timesteps < steps and model.num_timesteps - last_checkpoint >= settings.checkpoint_every:
            save_checkpoint(files, model, config)
            last_checkpoint = model.num_timesteps
    return finish(learner, seed, model, files, started, settings.algo_overrides, meta_iterations=int(iteration))
