"""Stopping a training once its policy succeeds, as the report measures success.

The report scores a learner on its own variation with its deterministic policy, so that is
what decides: every ``CHECK_EVERY`` env steps, once the training rollouts (stochastic
policy) succeed at least ``PRECONDITION`` of the time, stable-baselines3's
``evaluate_policy`` plays ``CHECK_EPISODES`` episodes of the learner's training tasks with
the deterministic policy, as the report scores own-variation success (RL^2: trials of
``own_k + 1`` episodes, the last one scored; fine-tuned learners zero-shot), always the
same episodes (seeded envs of their own). Where those reach the threshold, ``CHECK_EPISODES``
other episodes confirm it: training stops once the success over all ``2 * CHECK_EPISODES``
reaches the threshold. The training rollouts alone did not do: stopped when they first
reached 90%, half the learners of a quick run scored 0.4-0.7 deterministically; and after
one passing round of 20 episodes, 2 learner-seeds of 12 scored 0.85 on 20 other tasks of
their variation (results/NOTES.md).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents.common.curves import read_curve
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners.envs import EnvSpec, env_factory, make_vec
from banana_grasp.agents.learners.registry import LearnerSpec

CHECK_EPISODES = 20  # deterministic episodes per round of a check (a check plays one or two rounds)
CHECK_ENVS = 10  # played side by side
CHECK_EVERY = 4096  # env steps between checks, at most one per rollout
PRECONDITION = 0.5  # training success (mean of the last 3 rollouts) before any check


class SuccessCheck:
    """Decides when a training stops; ``checks`` lists each check's (env steps, success)."""

    def __init__(
        self, learner: LearnerSpec, tasks: EnvSpec, seed: int, threshold: float, files: LearnerFiles, own_k: int = 0
    ) -> None:
        self.learner, self.tasks, self.seed, self.threshold, self.files = learner, tasks, seed, threshold, files
        # An in-context learner plays trials of own_k + 1 episodes, scored on the last one
        # (envs.Trial reports it as the trial's success); others play single episodes.
        self.trial_episodes = own_k + 1
        self.checks: list[list] = []
        self._last: int | None = None
        self._envs: list[VecNormalize] = []  # one per round

    def _ready(self, steps: int) -> bool:
        if self._last is not None and steps - self._last < CHECK_EVERY:
            return False
        rates = [row["success_rate"] for row in read_curve(self.files.curve)[-3:]]
        return len(rates) == 3 and not np.isnan(rates).any() and float(np.mean(rates)) >= PRECONDITION

    def success(self, model: BaseAlgorithm, normalize: VecNormalize | None = None) -> float:
        """Deterministic success on the check's episodes, with the statistics of ``normalize``
        (default: the model's training env's): over the first round's ``CHECK_EPISODES``
        episodes, or over both rounds' where the first reaches the threshold."""
        normalize = normalize if normalize is not None else model.get_vec_normalize_env()
        if normalize is None:
            raise ValueError("a success check needs the model's VecNormalize: pass it, or give the model its env")
        successes = self._play(model, normalize, 0)
        if np.mean(successes) >= self.threshold:
            successes += self._play(model, normalize, 1)
        return float(np.mean(successes))

    def _play(self, model: BaseAlgorithm, normalize: VecNormalize, round_: int) -> list[bool]:
        """The successes of ``CHECK_EPISODES`` episodes of round ``round_`` (the same ones each time)."""
        if not self._envs:
            factory = env_factory(self.learner, self.tasks, trial_episodes=self.trial_episodes)
            seeds = SeedStreams(self.seed).check_envs(2 * CHECK_ENVS)
            for envs in (seeds[:CHECK_ENVS], seeds[CHECK_ENVS:]):
                self._envs.append(VecNormalize(make_vec(factory, envs), training=False, norm_reward=False,
                                               norm_obs_keys=normalize.norm_obs_keys, clip_obs=normalize.clip_obs,
                                               epsilon=normalize.epsilon))  # fmt: skip
        env = self._envs[round_]
        env.obs_rms = normalize.obs_rms
        env.unwrapped.seed()  # the same episodes at every check
        successes: list[bool] = []

        def record(local: dict, _: dict) -> None:
            if local["done"]:
                successes.append(bool(local["info"].get("is_success", False)))

        evaluate_policy(model, env, n_eval_episodes=CHECK_EPISODES, deterministic=True, callback=record, warn=False)
        return successes

    def __call__(self, model: BaseAlgorithm, steps: int) -> bool:
        """Whether training stops now, at ``steps`` env steps (a check is made when one is due)."""
        if not self._ready(steps):
            return False
        self._last = steps
        success = self.success(model)
        self.checks.append([int(steps), round(success, 3)])  # as meta.json will hold it
        return success >= self.threshold

    def close(self) -> None:
        for env in self._envs:
            env.close()
