"""A pixel RL^2 learner distilled from a state RL^2 learner (DAgger over whole trials).

As ``learners/algorithms/dagger.py``, for a learner that adapts in context: the teacher is a state
learner of kind ``rl2`` on the same variation, trained on the same trials (k + 1 episodes of
one task); the student is RL^2's recurrent policy on pixels (``pixels.PixelLSTMPolicy``). In
each round every env plays whole trials; the teacher's memory follows the trajectory the
student's actions make (round 0: the teacher's own, with action noise), and every step is
labelled with the teacher's deterministic action and value. The student is fitted on whole
trials through its LSTM, as RL^2 trains, so it learns to carry what an episode of the trial
showed into the next one as the teacher does: each round makes a fixed number of updates on
trials drawn from all so far, so a round costs the same however much data there is. Saved
as a ``trial_ppo.TrialPPO`` model and evaluated as RL^2 (``rl2.RL2Agent``: the adaptation
episodes are played in the trial, no weight changes).
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.utils import obs_as_tensor

from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners.algorithms.dagger import Rounds, settings_of, share_statistics, train_teacher
from banana_grasp.agents.learners.algorithms.rl2 import load_agent
from banana_grasp.agents.learners.algorithms.trial_ppo import TrialPPO
from banana_grasp.agents.learners.envs import env_factory, make_vec
from banana_grasp.agents.learners.policies.objects import algo_settings
from banana_grasp.agents.learners.policies.pixels import STATE_PREFIX, PixelLSTMPolicy
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.storage import Blueprint
from banana_grasp.agents.learners.training import TrainRun, new_model

__all__ = ["blueprint", "load_agent", "train"]


def blueprint(learner: LearnerSpec, algo_overrides: dict) -> Blueprint:
    """How a saved student's model is made (``storage.load_model``): TrialPPO with the pixel LSTM
    policy and its set's ``algo`` settings, as ``train`` makes it (its ``algo_overrides`` are
    DAgger's; the trial's length, ``n_steps``, is read from the saved model)."""
    return Blueprint(TrialPPO, PixelLSTMPolicy, algo_settings(hyperparameters(learner.hyperparameters)["algo"]))


def _fit(policy: PixelLSTMPolicy, trials: list[tuple], updates: int, batch_trials: int,
         rng: np.random.Generator) -> float:  # fmt: skip
    """``updates`` minibatches, each of ``batch_trials`` whole trials drawn at random from all
    trials so far, through the LSTM: mean squared error of the mean action and of the value
    against the teacher's (the value loss trains the critic's head alone: the memory and the
    encoder are the actor's). A round costs the same however much data there is.
    ``trials``: (observations (time, trials, ...), actions, values) per pass of the envs."""
    index = [(r, i) for r, (_, actions, _) in enumerate(trials) for i in range(actions.shape[1])]
    device, total = policy.device, 0.0
    policy.set_training_mode(True)
    for _ in range(updates):
        chosen = [index[j] for j in rng.choice(len(index), size=min(batch_trials, len(index)), replace=False)]
        obs = {k: np.concatenate([trials[r][0][k][:, i : i + 1] for r, i in chosen], axis=1) for k in policy.keys}
        actions = np.concatenate([trials[r][1][:, i : i + 1] for r, i in chosen], axis=1)
        values = np.concatenate([trials[r][2][:, i : i + 1] for r, i in chosen], axis=1)
        mean, value, _ = policy.forward_trials(policy.flatten(obs_as_tensor(obs, device)), critic_shapes_memory=False)
        loss = torch.nn.functional.mse_loss(mean, torch.as_tensor(actions, device=device))
        loss = loss + torch.nn.functional.mse_loss(value, torch.as_tensor(values, device=device))
        policy.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
        policy.optimizer.step()
        total += float(loss.detach())
    policy.set_training_mode(False)
    return total / max(updates, 1)


def _play_trials(env, teacher, teacher_keys, student, teacher_acts, noise, trial_steps, rng, successes) -> tuple:
    """One trial on every env of ``env``: the observations, the teacher's actions and values
    (time, env, ...). The teacher acts (with noise) if ``teacher_acts``, else the student
    (its mean action); each keeps its own memory along the trajectory."""
    obs = env.reset()
    columns: dict[str, list] = {"obs": [], "actions": [], "values": []}
    teacher_memory = student_memory = None
    for _ in range(trial_steps):
        view = {k: obs[k] if k.startswith("prev_") else obs[STATE_PREFIX + k] for k in teacher_keys}
        with torch.no_grad():
            x = teacher.policy.flatten(obs_as_tensor(view, "cpu"))
            label, value, teacher_memory = teacher.policy.forward_trials(x[None], teacher_memory)
            label = np.clip(label[0].numpy(), -1.0, 1.0)
            if teacher_acts:
                act = np.clip(label + rng.normal(0.0, noise, label.shape), -1.0, 1.0)
            else:
                mean, _, student_memory = student.forward_trials(student.flatten(obs_as_tensor(obs, student.device))[None],
                                                                 student_memory)  # fmt: skip
                act = np.clip(mean[0].cpu().numpy(), -1.0, 1.0)
        columns["obs"].append(obs)
        columns["actions"].append(label.astype(np.float32))
        columns["values"].append(value[0].numpy().astype(np.float32))
        obs, _, dones, infos = env.step(act)
        successes += [bool(info["trial_successes"][-1]) for info, done in zip(infos, dones) if done]
    stacked = {k: np.stack([o[k] for o in columns["obs"]]) for k in columns["obs"][0]}
    return stacked, np.stack(columns["actions"]), np.stack(columns["values"])


def train(run: TrainRun) -> dict:
    learner, seed, steps = run.learner, run.seed, run.steps
    dagger, teacher_settings = settings_of(learner, run.algo_overrides)
    teacher_meta, teacher, teacher_norm = train_teacher(run, teacher_settings)
    trial_steps = run.trial_episodes * run.train_tasks.episode_steps
    streams = SeedStreams(seed)
    factory = env_factory(learner, run.train_tasks, trial_episodes=run.trial_episodes)
    if dagger["trials_per_round"] % dagger["envs"]:
        raise ValueError(
            f"trials_per_round ({dagger['trials_per_round']}) must be a multiple of envs ({dagger['envs']})"
        )
    venv = make_vec(factory, streams.envs(dagger["envs"]))
    model = new_model(learner, TrialPPO, PixelLSTMPolicy, venv, seed, None, n_steps=trial_steps)
    normalize = model.get_vec_normalize_env()
    share_statistics(normalize, teacher_norm)
    for group in model.policy.optimizer.param_groups:
        group["lr"] = dagger["learning_rate"]
    env = model.env  # images channel-first, as the policy reads them
    teacher_keys = list(teacher.observation_space.spaces)
    rng = np.random.default_rng(streams.policy())
    rounds, trials = Rounds(run, teacher_meta), []
    passes = dagger["trials_per_round"] // env.num_envs  # whole trials on every env, each pass
    while model.num_timesteps < steps:
        successes: list[bool] = []
        for _ in range(passes):
            trials.append(_play_trials(env, teacher, teacher_keys, model.policy, rounds.count == 0, dagger["noise"],
                                       trial_steps, rng, successes))  # fmt: skip
        model.num_timesteps += trial_steps * env.num_envs * passes
        if rounds.end(model, successes, _fit(model.policy, trials, dagger["updates"], dagger["batch_trials"], rng)):
            break
    return rounds.finish(model, trial_episodes=run.trial_episodes)
