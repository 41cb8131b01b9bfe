"""Pixel learners distilled from a state learner of the same variation (DAgger).

A learner of this kind first trains its **teacher**: a state learner (kind ``ppo``) on the
same variation, with the hyperparameter set, budget and stopping threshold of its own set's
``teacher`` (saved in the learner's folder, under ``teacher/``). The **student** then sees
only what a pixel learner sees (``pixels.PixelActor``: 64x64 images of its own training
variation and proprioception) and is fitted, round after round, to the teacher's
deterministic actions on the observations it visits (DAgger, Ross et al., 2011): round 0
follows the teacher (with Gaussian action noise, so that the data holds corrections),
later rounds follow the student; every round's observations join the data, and the
student is fitted on all of it. Its critic (``pixels.StateCritic``, on the privileged
state) is fitted to the teacher's values alongside, so that the student adapts to a new
task like every PPO learner (``ppo.FineTuner``: its own PPO update on the k episodes).

The student is saved as a stable-baselines3 PPO model (``pixels.AsymmetricPolicy``) with the
teacher's normalisation statistics, so evaluation, success checks, fine-tuning and videos
are the PPO learners'. Budget: ``steps`` counts the student's env steps (DAgger's data);
the teacher's are recorded in ``meta.json`` (``teacher``), and the wall time includes the
teacher's training. A run stopped during the student's rounds trains the student again from
the first round (the teacher is kept).
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents.common.curves import append_curve, truncate_curve
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners import storage
from banana_grasp.agents.learners.algorithms.ppo import PolicyAgent, policy_of
from banana_grasp.agents.learners.checkpoints import finish
from banana_grasp.agents.learners.envs import EvalEnvs, env_factory, make_vec
from banana_grasp.agents.learners.policies.objects import algo_settings
from banana_grasp.agents.learners.policies.pixels import STATE_PREFIX, AsymmetricPolicy
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.training import TrainRun, new_model
from banana_grasp.agents.learners.training import train as train_learner

__all__ = [
    "Rounds",
    "blueprint",
    "load_agent",
    "settings_of",
    "share_statistics",
    "teacher_spec",
    "train",
    "train_teacher",
]


def teacher_spec(learner: LearnerSpec) -> LearnerSpec:
    """The state learner that labels ``learner``'s actions: same variation, colour kept."""
    teacher = hyperparameters(learner.hyperparameters)["teacher"]
    return LearnerSpec(name=f"{learner.name}-teacher", kind=teacher["kind"], variation=learner.variation,
                       role=learner.role, hyperparameters=teacher["hyperparameters"])  # fmt: skip


def settings_of(learner: LearnerSpec, overrides: dict) -> tuple[dict, dict]:
    """The set's ``dagger`` and ``teacher`` settings with a preset's overrides (for this kind,
    ``algo_overrides`` replace keys of ``dagger``, and its ``teacher`` keys those of ``teacher``)."""
    hp = hyperparameters(learner.hyperparameters)
    overrides = dict(overrides)
    teacher = {**hp["teacher"], **overrides.pop("teacher", {})}
    unknown = set(overrides) - set(hp["dagger"])
    if unknown or set(teacher) - {*hp["teacher"], "algo_overrides"}:
        raise ValueError(f"unknown dagger settings {sorted(unknown | (set(teacher) - set(hp['teacher'])))}; "
                         f"allowed: {', '.join(hp['dagger'])}, teacher: {', '.join(hp['teacher'])}, algo_overrides")  # fmt: skip
    return {**hp["dagger"], **overrides}, teacher


def train_teacher(run: TrainRun, teacher: dict) -> tuple[dict, BaseAlgorithm, VecNormalize]:
    """Train (or reuse) the teacher into ``run.folder``'s ``teacher`` folder, on the same trials and
    split as the learner; returns its metadata, model and normalisation."""
    spec = teacher_spec(run.learner)
    own = replace(run, learner=spec, steps=teacher["steps"], folder=str(run.files.folder / "teacher"),
                  stop_at_success=teacher["stop_at_success"], algo_overrides=teacher.get("algo_overrides", {}),
                  progress_bar=False, on_rollout=None)  # fmt: skip
    meta = train_learner(own)
    model, normalize = storage.load_model(own.files, spec)
    return meta, model, normalize


def share_statistics(student: VecNormalize, teacher: VecNormalize) -> None:
    """The student's normalisation: the teacher's statistics for the state keys (``state_*``)
    and for the proprioceptive keys they share, frozen, so that the normalised ``state_*``
    keys are exactly the teacher's input."""
    for key in student.norm_obs_keys:
        source = key.removeprefix(STATE_PREFIX)
        if source not in teacher.obs_rms:
            raise ValueError(f"the teacher has no statistics for {source!r} (student key {key!r})")
        student.obs_rms[key] = copy.deepcopy(teacher.obs_rms[source])
    student.ret_rms = copy.deepcopy(teacher.ret_rms)
    student.training = False


class _Data:
    """DAgger's aggregated data: observations as the student's VecNormalize returns them, the
    teacher's actions and values."""

    def __init__(self) -> None:
        self.obs: list[dict[str, np.ndarray]] = []
        self.actions: list[np.ndarray] = []
        self.values: list[np.ndarray] = []

    def add(self, obs: dict[str, np.ndarray], actions: np.ndarray, values: np.ndarray) -> None:
        self.obs.append({k: v.copy() for k, v in obs.items()})
        self.actions.append(actions)
        self.values.append(values)

    def arrays(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        obs = {k: np.concatenate([o[k] for o in self.obs]) for k in self.obs[0]}
        return obs, np.concatenate(self.actions), np.concatenate(self.values)


def _teacher_view(obs: dict[str, np.ndarray], keys: list[str]) -> dict[str, np.ndarray]:
    return {k: obs[STATE_PREFIX + k] for k in keys}


def _fit(policy: AsymmetricPolicy, data: _Data, epochs: int, batch_size: int, rng: np.random.Generator) -> float:
    """``epochs`` passes over all the data: mean squared error of the actor's mean action
    against the teacher's, plus that of the critic against the teacher's values."""
    obs, actions, values = data.arrays()
    n = len(actions)
    policy.set_training_mode(True)
    total = 0.0
    for _ in range(epochs):
        order, total = rng.permutation(n), 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            batch, _ = policy.obs_to_tensor({k: v[idx] for k, v in obs.items()})
            actor_features, critic_features = policy.extract_features(batch)  # two extractors
            mean = policy.action_net(policy.mlp_extractor.forward_actor(actor_features))
            value = policy.value_net(policy.mlp_extractor.forward_critic(critic_features))
            loss = torch.nn.functional.mse_loss(mean, torch.as_tensor(actions[idx], device=policy.device))
            loss = loss + torch.nn.functional.mse_loss(value, torch.as_tensor(values[idx], device=policy.device))
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
            total += float(loss.detach()) * len(idx)
    policy.set_training_mode(False)
    return total / n


class Rounds:
    """A student's training record: a curve row per DAgger round (wall time counted from the
    teacher's), the run's progress callback, the success check that stops the training, and
    the finished learner's files."""

    def __init__(self, run: TrainRun, teacher_meta: dict) -> None:
        self.learner, self.seed, self.files, self.run = run.learner, run.seed, run.files, run
        self.teacher_meta = teacher_meta
        self.started = time.perf_counter()
        self.check = run.success_check()
        truncate_curve(self.files.curve, 0)
        self.wall_before = float(teacher_meta["wall_seconds"])
        self.count, self.stopped, self.loss = 0, False, float("nan")

    def end(self, model, successes: list[bool], loss: float) -> bool:
        """Record a finished round; True once the student passes its success check (asked after
        each round: the student, deterministic, as the report scores it)."""
        self.count, self.loss = self.count + 1, loss
        wall = self.wall_before + time.perf_counter() - self.started
        rate = float(np.mean(successes)) if successes else float("nan")
        append_curve(self.files.curve, (model.num_timesteps, rate, len(successes), round(wall, 2)))
        if self.run.on_rollout is not None:
            self.run.on_rollout(model.num_timesteps)
        self.stopped = self.check is not None and self.check(model, model.num_timesteps)
        return self.stopped

    def finish(self, model, **extra) -> dict:
        """Save the student and its ``meta.json`` (with the teacher's record)."""
        if self.check is not None:
            extra["success_checks"] = self.check.checks
            self.check.close()
        keys = ("steps", "wall_seconds", "final_train_success", "stopped_at_success")
        teacher = {"learner": teacher_spec(self.learner).name, **{k: self.teacher_meta[k] for k in keys}}
        return finish(self.learner, self.seed, model, self.files, self.started, self.run.algo_overrides,
                      stopped_at_success=self.run.stop_at_success if self.stopped else None,
                      teacher=teacher, dagger_rounds=self.count, last_loss=round(self.loss, 5), **extra)  # fmt: skip


def train(run: TrainRun) -> dict:
    learner, seed, steps = run.learner, run.seed, run.steps
    hp = hyperparameters(learner.hyperparameters)
    dagger, teacher_settings = settings_of(learner, run.algo_overrides)
    teacher_meta, teacher, teacher_norm = train_teacher(run, teacher_settings)
    keys = list(teacher.observation_space.spaces)
    streams = SeedStreams(seed)
    venv = make_vec(env_factory(learner, run.train_tasks), streams.envs(hp["n_envs"]))
    model = new_model(learner, PPO, policy_of(learner), venv, seed, None)
    normalize = model.get_vec_normalize_env()
    share_statistics(normalize, teacher_norm)
    for group in model.policy.optimizer.param_groups:
        group["lr"] = dagger["learning_rate"]
    rng = np.random.default_rng(streams.policy())
    rounds, data = Rounds(run, teacher_meta), _Data()
    round_steps = dagger["episodes_per_round"] * run.train_tasks.episode_steps  # whole episodes' worth, over the envs
    obs = normalize.reset()
    while model.num_timesteps < steps:
        successes: list[bool] = []
        for _ in range(round_steps // normalize.num_envs):
            view = _teacher_view(obs, keys)
            with torch.no_grad():
                label, _ = teacher.predict(view, deterministic=True)
                tensor, _ = teacher.policy.obs_to_tensor(view)
                value = teacher.policy.predict_values(tensor).numpy()
            label = np.clip(label, -1.0, 1.0)
            data.add(obs, label.astype(np.float32), value.astype(np.float32))
            if rounds.count == 0:  # the teacher, with noise
                act = np.clip(label + rng.normal(0.0, dagger["noise"], label.shape), -1.0, 1.0)
            else:
                act, _ = model.predict(obs, deterministic=True)
            obs, _, dones, infos = normalize.step(act)
            successes += [bool(info.get("is_success")) for info, done in zip(infos, dones) if done]
        model.num_timesteps += round_steps
        if rounds.end(model, successes, _fit(model.policy, data, dagger["epochs"], dagger["batch_size"], rng)):
            break
    return rounds.finish(model)


def blueprint(learner: LearnerSpec, algo_overrides: dict) -> storage.Blueprint:
    """How a saved student's model is made (``storage.load_model``): PPO with its set's policy
    and ``algo`` settings, as ``train`` makes it (its ``algo_overrides`` are DAgger's)."""
    return storage.Blueprint(PPO, policy_of(learner), algo_settings(hyperparameters(learner.hyperparameters)["algo"]))


class StudentAgent(PolicyAgent):
    """A trained student: plays from pixels, adapts by the PPO learners' fine-tuning with the
    set's PPO settings (a preset's overrides for this kind are DAgger's, not PPO's)."""

    def finetune_overrides(self) -> dict:
        return {}


def load_agent(learner: LearnerSpec, files: LearnerFiles, envs: EvalEnvs) -> StudentAgent:
    return StudentAgent(learner, files, envs)
