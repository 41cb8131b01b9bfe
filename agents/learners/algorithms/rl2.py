"""RL^2 (Duan et al., 2016): a recurrent policy trained on trials (``trial_ppo.TrialPPO``).

A trial is ``k + 1`` episodes of one task (``envs.Trial``): the previous action, reward and
an episode-boundary flag join the observation, and the memory is kept across the episodes
of a trial, so the policy can adapt in context. Adaptation changes no weight
(:class:`RL2Agent`).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.utils import set_random_seed

from banana_grasp.agents.common.files import read_json
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners import storage
from banana_grasp.agents.learners.algorithms.trial_ppo import LSTMPolicy, TrialPPO
from banana_grasp.agents.learners.envs import EvalEnvs, run_episode
from banana_grasp.agents.learners.policies.objects import algo_settings
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.training import TrainRun, train_sb3
from banana_grasp.envs import Task


def train(run: TrainRun) -> dict:
    if run.trial_episodes < 1:
        raise ValueError(f"a trial needs >= 1 episode; got trial_episodes={run.trial_episodes}")
    # One rollout is one trial per env: n_steps is the trial's length (episodes padded to full length).
    # Derived, not an override: meta.json and checkpoints record only the caller's overrides,
    # which training.train checks a saved learner against before reusing it.
    trial = {"n_steps": run.trial_episodes * run.train_tasks.episode_steps}
    return train_sb3(run, TrialPPO, LSTMPolicy, algo_kwargs=trial, trial_episodes=run.trial_episodes)


def blueprint(learner: LearnerSpec, algo_overrides: dict) -> storage.Blueprint:
    """How a saved RL^2 learner's model is made (``storage.load_model``): TrialPPO with the LSTM
    policy and its set's ``algo`` settings, the overrides it was trained with on top (the
    trial's length, ``n_steps``, is read from the saved model)."""
    algo = algo_settings({**hyperparameters(learner.hyperparameters)["algo"], **algo_overrides})
    return storage.Blueprint(TrialPPO, LSTMPolicy, algo)


class RL2Agent:
    """Adapts in context: every evaluation episode is the last episode of a trial whose first
    k episodes are the adaptation episodes, memory carried across the trial and no weight
    changed; actions are sampled in the adaptation episodes, as in training. Each evaluated
    episode is thus preceded by exactly k episodes of the task, as for the fine-tuned learners.
    """

    def __init__(self, learner: LearnerSpec, files: LearnerFiles, envs: EvalEnvs) -> None:
        self.name, self.learner, self.files = learner.name, learner, files
        self.model, self.normalize = storage.load_model(files, learner)
        self.normalize.training = False
        self._envs = envs
        self.last_episodes: list[dict] = []  # the last info of each episode of the last rollout's trial
        # Trials longer than those of training would put the memory out of its distribution.
        self.max_k = int(read_json(files.meta).get("trial_episodes", 2)) - 1
        self.k = 0
        self.last_trial_successes: list[bool] = []  # each episode's success in the last trial

    def reset(self) -> None:
        self.k = 0

    def adapt(self, task: Task, k: int, seed: int) -> None:
        if k > self.max_k:
            raise ValueError(
                f"{self.name} in {self.files.folder} was trained on trials of {self.max_k + 1} episodes: it can "
                f"adapt with k <= {self.max_k} episodes, not {k} (train it with --k {k})"
            )
        self.k = k  # the adaptation episodes are played inside each evaluation trial

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        env = self._envs.make(task, render, trial_episodes=self.k + 1)
        state, start = None, np.ones((1,), bool)
        steps = last_episode_start = episode = 0
        set_random_seed(seed)

        def act(obs: dict) -> np.ndarray:
            nonlocal state, start, steps, last_episode_start, episode
            if obs["prev_done"][0] > 0:  # a new episode of the trial begins at this step
                last_episode_start, episode = steps, episode + 1
            steps += 1
            batch = {key: value[None] for key, value in self.normalize.normalize_obs(obs).items()}
            # Adaptation episodes sample actions, as in training and as the fine-tuned learners
            # collect theirs; the scored episode acts deterministically, as every learner does.
            deterministic = episode == self.k
            action, state = self.model.predict(batch, state=state, episode_start=start, deterministic=deterministic)
            start = np.zeros((1,), bool)
            return action[0]

        info, frames = run_episode(env, act, seed, render)
        env.close()
        self.last_trial_successes = list(info["trial_successes"])
        self.last_episodes = list(info["trial_infos"])
        # Film only the evaluated episode, like every other learner's clip.
        return bool(info["trial_successes"][-1]), frames[last_episode_start:]


def load_agent(learner: LearnerSpec, files: LearnerFiles, envs: EvalEnvs) -> RL2Agent:
    return RL2Agent(learner, files, envs)
