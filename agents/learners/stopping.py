"""Stopping a training once its policy succeeds, as the report measures success.

The report scores a learner on its own variation with its deterministic policy, so that is
what decides: every ``CHECK_EVERY`` env steps, once the training rollouts (stochastic
policy) succeed at least ``PRECONDITION`` of the time, stable-baselines3's
``evaluate_policy`` plays episodes of the learner's training tasks with the deterministic
policy, as the report scores own-variation success (RL^2: trials of ``own_k + 1``
episodes, the last one scored; fine-tuned learners zero-shot), always the same episodes
(seeded envs of their own). A check plays up to ``CHECK_ROUNDS`` rounds of
``CHECK_EPISODES`` other episodes and ends as soon as the failures exceed what the
threshold allows over all ``CHECK_ROUNDS * CHECK_EPISODES``: training stops once a check
plays every round at the threshold or above, and a policy far from it costs one or two
rounds. Fewer episodes did not do: stopped when the training rollouts first reached 90%,
half the learners of a quick run scored 0.4-0.7 deterministically; after 20 episodes at
95%, 2 learner-seeds of 12 scored 0.85 on 20 other tasks; after 40, one policy that
lifted in 0.88-0.90 of 300 other episodes passed (docs/notes/036-success-check-80-episodes.md).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents.common.curves import read_curve
from banana_grasp.agents.common.files import read_json
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners.envs import EnvSpec, env_factory, make_vec
from banana_grasp.agents.learners.registry import LearnerSpec

CHECK_ENVS = 10  # played side by side
CHECK_EPISODES = CHECK_ENVS  # deterministic episodes per round of a check: one per env
CHECK_ROUNDS = 8  # at most, each on other episodes
CHECK_EVERY = 8192  # env steps between checks, at most one per rollout (a check of 80 episodes costs about 3 s)
PRECONDITION = 0.5  # training success (mean of the last 3 rollouts) before any check


class SuccessCheck:
    """Decides when a training stops; ``checks`` lists each check's (env steps, success).

    A training resumed from a checkpoint continues the checks its ``state.json`` records, and
    so their schedule: it checks where the uninterrupted training would have.
    """

    def __init__(
        self, learner: LearnerSpec, tasks: EnvSpec, seed: int, threshold: float, files: LearnerFiles, own_k: int = 0
    ) -> None:
        self.learner, self.tasks, self.threshold, self.files = learner, tasks, threshold, files
        # An in-context learner plays trials of own_k + 1 episodes, scored on the last one
        # (envs.Trial reports it as the trial's success); others play single episodes.
        self.trial_episodes = own_k + 1
        state = files.checkpoint.state
        self.checks: list[list] = read_json(state).get("success_checks", []) if state.is_file() else []
        self._last: int | None = int(self.checks[-1][0]) if self.checks else None
        self._envs: VecNormalize | None = None  # made at the first check, re-seeded for each round
        self._seeds = SeedStreams(seed).check_envs(CHECK_ROUNDS * CHECK_ENVS)

    def _ready(self, steps: int) -> bool:
        if self._last is not None and steps - self._last < CHECK_EVERY:
            return False
        rates = [row["success_rate"] for row in read_curve(self.files.curve)[-3:]]
        return len(rates) == 3 and not np.isnan(rates).any() and float(np.mean(rates)) >= PRECONDITION

    def success(self, model: BaseAlgorithm, normalize: VecNormalize | None = None) -> float:
        """Deterministic success on the check's episodes, with the statistics of ``normalize``
        (default: the model's training env's): over the rounds played, which are all
        ``CHECK_ROUNDS`` unless the failures exceed what the threshold allows first."""
        normalize = normalize if normalize is not None else model.get_vec_normalize_env()
        if normalize is None:
            raise ValueError("a success check needs the model's VecNormalize: pass it, or give the model its env")
        allowed = allowed_failures(self.threshold)
        successes: list[bool] = []
        for round_ in range(CHECK_ROUNDS):
            successes += self._play(model, normalize, round_)
            if successes.count(False) > allowed:
                break
        return float(np.mean(successes))

    def _play(self, model: BaseAlgorithm, normalize: VecNormalize, round_: int) -> list[bool]:
        """The successes of round ``round_``'s ``CHECK_EPISODES`` episodes (the same ones each time)."""
        if self._envs is None:
            factory = env_factory(self.learner, self.tasks, trial_episodes=self.trial_episodes)
            self._envs = VecNormalize(make_vec(factory, self._seeds[:CHECK_ENVS]), training=False, norm_reward=False,
                                      norm_obs_keys=normalize.norm_obs_keys, clip_obs=normalize.clip_obs,
                                      epsilon=normalize.epsilon)  # fmt: skip
        env = self._envs
        env.obs_rms = normalize.obs_rms
        env.unwrapped.env_seeds = self._seeds[round_ * CHECK_ENVS : (round_ + 1) * CHECK_ENVS]
        env.unwrapped.seed()  # each env plays its round's episode, the same one at every check
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
        if self._envs is not None:
            self._envs.close()


def allowed_failures(threshold: float) -> int:
    """The most failures of a check's ``CHECK_ROUNDS * CHECK_EPISODES`` episodes at which its
    success still reaches ``threshold``."""
    episodes = CHECK_ROUNDS * CHECK_EPISODES
    return int(np.floor(episodes * (1.0 - threshold) + 1e-9))
