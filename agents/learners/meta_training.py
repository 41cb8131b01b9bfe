"""The meta-training loop shared by the learners whose test-time adaptation is the fine-tuning
(``reptile``, ``fomaml``): task draws, success checks, the learning curve, checkpoints and resume.
Each learner supplies its meta-iteration's update (:data:`MetaStep`)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from stable_baselines3 import PPO

from banana_grasp.agents.common.curves import append_curve, last_wall_seconds
from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.families import task_sampler
from banana_grasp.agents.learners.algorithms.ppo import POLICY, FineTuner
from banana_grasp.agents.learners.checkpoints import finish, save_checkpoint, training_config
from banana_grasp.agents.learners.envs import EvalEnvs, env_factory, make_vec
from banana_grasp.agents.learners.registry import hyperparameters
from banana_grasp.agents.learners.training import TrainRun, start_or_resume

__all__ = ["MetaStep", "meta_train"]

MetaStep = Callable[[PPO, FineTuner, list, list[int], int, float], list[bool]]


def meta_train(run: TrainRun, meta_step: MetaStep, extra_episodes: int) -> dict:
    """The meta-training loop of a learner whose test-time adaptation is the fine-tuning
    (Reptile, first-order MAML): each meta-iteration draws ``meta_batch_tasks`` training tasks
    and calls ``meta_step(model, inner, tasks, env_seeds, k, fraction_of_budget_done)``, which
    updates ``model.policy`` and returns the successes to log. A meta-iteration costs
    ``k + extra_episodes`` episodes per task. Checks, curve and checkpoints fall between
    meta-iterations."""
    learner, seed, steps, files = run.learner, run.seed, run.steps, run.files
    hp = hyperparameters(learner.hyperparameters)
    n_tasks = hp["meta_batch_tasks"]
    k = max(1, run.trial_episodes - 1)  # the inner loop's episodes: the headline k
    started = time.perf_counter()
    tasks = task_sampler(learner.variation, "train", run.position_layout)
    streams = SeedStreams(seed)
    first = lambda: make_vec(env_factory(learner, run.train_tasks), streams.envs(hp["n_envs"]))
    model, normalize = start_or_resume(run, PPO, POLICY, None, make_venv=first)
    normalize.training = True  # the inner loops' episodes update the statistics
    inner = FineTuner(EvalEnvs(learner, run.train_tasks), normalize, None, run.algo_overrides)
    steps_per_iteration = n_tasks * (k + extra_episodes) * inner.envs.episode_steps
    # The meta-iteration index keys its task draws and env seeds, so a resumed run continues
    # the sequence; checkpoints fall between meta-iterations (never mid-iteration weights).
    iteration = model.num_timesteps // steps_per_iteration
    config = training_config(learner, run.algo_overrides)
    last_checkpoint, wall_before, clock = model.num_timesteps, last_wall_seconds(files.curve), time.perf_counter()
    check, stopped = run.success_check(), False
    while model.num_timesteps < steps:
        # Checked between meta-iterations: the initialisation, zero-shot, as the report scores it.
        if check is not None and check(model, model.num_timesteps):
            stopped = True
            break
        rng, env_seeds = streams.tasks(iteration), streams.envs(n_tasks, iteration)
        drawn = [tasks.sample(rng) for _ in range(n_tasks)]
        successes = meta_step(model, inner, drawn, env_seeds, k, model.num_timesteps / steps)
        model.num_timesteps += steps_per_iteration
        iteration += 1
        wall = wall_before + time.perf_counter() - clock
        append_curve(files.curve, (model.num_timesteps, float(np.mean(successes)), len(successes), round(wall, 2)))
        if run.on_rollout is not None:
            run.on_rollout(model.num_timesteps)
        if model.num_timesteps < steps and model.num_timesteps - last_checkpoint >= run.checkpoint_every:
            save_checkpoint(files, model, config, check)
            last_checkpoint = model.num_timesteps
    extra = {"success_checks": check.checks} if check is not None else {}
    if check is not None:
        check.close()
    return finish(learner, seed, model, files, started, run.algo_overrides,
                  stopped_at_success=run.stop_at_success if stopped else None,
                  meta_iterations=int(iteration), inner_episodes=k, **extra)  # fmt: skip
