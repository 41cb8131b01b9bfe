"""Stopping a training once its policy succeeds, as the report measures success.

The report scores a learner on its own variation with its deterministic policy, so that is
what decides: every ``CHECK_EVERY`` env steps, once the training rollouts (stochastic
policy) succeed at least ``PRECONDITION`` of the time, stable-baselines3's
``evaluate_policy`` plays ``CHECK_EPISODES`` episodes of the learner's training tasks with
the deterministic policy, as the report scores own-variation success (RL^2: trials of
``own_k + 1`` episodes, the last one scored; fine-tuned learners zero-shot), always the
same episodes (seeded envs of their own), and training stops once the success reaches the
threshold. The training rollouts alone did not do: stopped when they first reached 90%,
half the learners of a quick run scored 0.4-0.7 deterministically (results/NOTES.md).
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

CHECK_EPISODES = 20  # deterministic episodes per check
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
        self._env: VecNormalize | None = None

    def _ready(self, steps: int) -> bool:
        if self._last is not None and steps - self._last < CHECK_EVERY:
            return False
        rates = [row["success_rate"] for row in read_curve(self.files.curve)[-3:]]
        return len(rates) == 3 and not np.isnan(rates).any() and float(np.mean(rates)) >= PRECONDITION

    def success(self, model: BaseAlgorithm, normalize: VecNormalize | None = None) -> float:
        """Deterministic success on the check's episodes, with the statistics of ``normalize``
        (default: the model's training env's)."""
        normalize = normalize if normalize is not None else model.get_vec_normalize_env()
        if normalize is None:
            raise ValueError("a success check needs the model's VecNormalize: pass it, or give the model its env")
        if self._env is None:
            factory = env_factory(self.learner, self.tasks, trial_episodes=self.trial_episodes)
            venv = make_vec(factory, SeedStreams(self.seed).check_envs(CHECK_ENVS))
            self._env = VecNormalize(venv, training=False, norm_reward=False, norm_obs_keys=normalize.norm_obs_keys,
                                     clip_obs=normalize.clip_obs, epsilon=normalize.epsilon)  # fmt: skip
        self._env.obs_rms = normalize.obs_rms
        self._env.unwrapped.seed()  # the same episodes at every check
        successes: list[bool] = []

        def record(local: dict, _: dict) -> None:
            if local["done"]:
                successes.append(bool(local["info"].get("is_success", False)))

        evaluate_policy(model, self._env, n_eval_episodes=CHECK_EPISODES, deterministic=True, callback=record,
                        warn=False)  # fmt: skip
        return float(np.mean(successes))

    def __call__(self, model: BaseAlgorithm, steps: int) -> bool:
        """Whether training stops now, at ``steps`` env steps (a check is made when one is due)."""
        if not self._ready(steps):
            return False
        self._last = steps
        success = self.success(model)
        self.checks.append([int(steps), round(success, 3)])  # as meta.json will hold it
        return success >= self.threshold

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
