"""PPO learners (stable-baselines3): the specialists, the multi-task learner and the oracle.

Trained with :func:`~banana_grasp.agents.learners.training.train_sb3`; adapted to a new task
by fine-tuning (:class:`PolicyAgent`).
"""

from __future__ import annotations

import copy

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecNormalize

from banana_grasp.agents.common.files import read_json
from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners import storage
from banana_grasp.agents.learners.envs import EvalEnvs, PadEpisode, make_vec, run_episode
from banana_grasp.agents.learners.policies.objects import algo_settings
from banana_grasp.agents.learners.policies.pixels import AsymmetricPolicy
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters
from banana_grasp.agents.learners.training import TrainRun, train_sb3
from banana_grasp.envs import FixedTask, Task

POLICY = "MultiInputPolicy"
POLICIES = {"multi-input": POLICY, "asymmetric": AsymmetricPolicy}  # a set's `policy` (default multi-input)


def policy_of(learner: LearnerSpec):
    """The policy (class or SB3 name) of ``learner``'s hyperparameter set."""
    name = hyperparameters(learner.hyperparameters).get("policy", "multi-input")
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r} in set {learner.hyperparameters!r}; allowed: {', '.join(POLICIES)}")
    return POLICIES[name]


def train(run: TrainRun) -> dict:
    return train_sb3(run, PPO, policy_of(run.learner))


def blueprint(learner: LearnerSpec, algo_overrides: dict) -> storage.Blueprint:
    """How a saved PPO learner's model is made (``storage.load_model``): PPO with its set's
    policy and ``algo`` settings, the overrides it was trained with on top."""
    algo = algo_settings({**hyperparameters(learner.hyperparameters)["algo"], **algo_overrides})
    return storage.Blueprint(PPO, policy_of(learner), algo)


def pinned_envs(envs: EvalEnvs, tasks: list[Task], normalize: VecNormalize) -> tuple[VecNormalize, list[FixedTask]]:
    """One env per task, made by ``envs`` and pinned to it by the returned FixedTask wrappers
    (set their ``task`` to change it), each episode padded to its full length (``PadEpisode``),
    normalised with ``normalize``'s statistics (the same objects: they update only where that
    wrapper's ``training`` is true, which this one copies)."""
    made = [envs.make(task) for task in tasks]
    fixed = []
    for env in made:
        while not isinstance(env, FixedTask):
            env = env.env
        fixed.append(env)
    venv = make_vec([lambda env=env: PadEpisode(env, envs.episode_steps) for env in made], [0] * len(made))
    pinned = VecNormalize(venv, training=normalize.training, norm_obs_keys=normalize.norm_obs_keys,
                          clip_obs=normalize.clip_obs, epsilon=normalize.epsilon, gamma=normalize.gamma,
                          norm_reward=normalize.norm_reward, clip_reward=normalize.clip_reward)  # fmt: skip
    pinned.obs_rms, pinned.ret_rms = normalize.obs_rms, normalize.ret_rms
    return pinned, fixed


class _EpisodeSuccesses(BaseCallback):
    """Each env's episode successes during one rollout."""

    def __init__(self, n_envs: int) -> None:
        super().__init__()
        self.successes: list[list[bool]] = [[] for _ in range(n_envs)]

    def _on_step(self) -> bool:
        for i, (done, info) in enumerate(zip(self.locals["dones"], self.locals["infos"])):
            if done:
                self.successes[i].append(bool(info.get("is_success", False)))
        return True


class FineTuner:
    """Adaptation by fine-tuning, and the inner loop of Reptile and first-order MAML: the same
    procedure for all.

    For each task, from the given weights: ``k`` whole episodes of the task (``PadEpisode``:
    exactly k episodes' steps) collected with the stochastic policy, then PPO's
    update (stable-baselines3's ``PPO.train``) on that task's episodes alone, with
    ``hyperparams.yaml: finetune`` (epochs, learning rate, minibatch size), the learner's
    other PPO settings and a fresh Adam optimiser. Several tasks (:meth:`batch`, a meta-batch)
    are collected side by side, one env each and one forward pass for all, and each is then
    updated on its own; one task (``__call__``, test time) is the same with one env.
    """

    def __init__(
        self, envs: EvalEnvs, normalize: VecNormalize, finetune: dict | None = None, algo_overrides: dict | None = None
    ) -> None:
        self.learner, self.envs, self.normalize = envs.learner, envs, normalize
        self.settings = {**hyperparameters("finetune"), **(finetune or {})}
        # The learner's PPO settings as it was trained (network, gamma, clipping), the
        # fine-tuning's own (epochs, learning rate, minibatch) on top.
        self.algo = algo_settings({**hyperparameters(self.learner.hyperparameters)["algo"], **(algo_overrides or {})})
        self._envs: dict[int, tuple[VecNormalize, list[FixedTask]]] = {}  # per number of tasks
        self._tuners: dict[tuple[int, int], PPO] = {}  # per (k, tasks): a rollout buffer of that size
        self._single: dict[int, DictRolloutBuffer] = {}  # per k: one task's episodes
        self.last_successes: list[bool] = []  # each adaptation episode's success, last call, task by task
        self.last_buffer: DictRolloutBuffer | None = None  # the episodes of the last batch(), one column per task

    def _tuner(self, k: int, venv: VecNormalize) -> PPO:
        key = (k, venv.num_envs)
        if key not in self._tuners:
            n_steps = k * self.envs.episode_steps
            algo = {**self.algo, "n_steps": n_steps,
                    "batch_size": min(n_steps, self.settings["batch_size"]), "n_epochs": self.settings["n_epochs"],
                    "learning_rate": self.settings["learning_rate"]}  # fmt: skip
            self._tuners[key] = PPO(policy_of(self.learner), venv, device="cpu", verbose=0, **algo)
            # A logger of no output: without one, every rollout would make an empty SB3-<time>
            # folder in the system's temporary folder (stable-baselines3's configure()).
            self._tuners[key].set_logger(Logger(folder=None, output_formats=[]))
        return self._tuners[key]

    def _one_task(self, full: DictRolloutBuffer, i: int, k: int) -> DictRolloutBuffer:
        """Task ``i``'s column of a collected rollout, as a rollout buffer of its own."""
        if k not in self._single:
            self._single[k] = DictRolloutBuffer(full.buffer_size, full.observation_space, full.action_space,
                                                device="cpu", gae_lambda=full.gae_lambda, gamma=full.gamma, n_envs=1)  # fmt: skip
        single = self._single[k]
        single.observations = {key: value[:, i : i + 1].copy() for key, value in full.observations.items()}
        for name in ("actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages"):
            setattr(single, name, getattr(full, name)[:, i : i + 1].copy())
        single.pos, single.full, single.generator_ready = full.buffer_size, True, False
        return single

    def collect(self, weights: dict, tasks: list[Task], k: int, seeds: list[int]) -> tuple[PPO, DictRolloutBuffer]:
        """``k`` whole episodes of each task played from ``weights`` with the stochastic policy,
        side by side: the tuner that played them and its rollout buffer (one column per task,
        advantages computed). ``last_successes`` holds the episodes' successes, task by task."""
        if k < 1:
            raise ValueError(f"fine-tuning needs k >= 1 episodes; got k={k}")
        if len(tasks) not in self._envs:
            self._envs[len(tasks)] = pinned_envs(self.envs, tasks, self.normalize)
        venv, fixed = self._envs[len(tasks)]
        for wrapper, task in zip(fixed, tasks):
            wrapper.task = task
        venv.unwrapped.env_seeds = [int(seed) for seed in seeds]
        tuner = self._tuner(k, venv)
        tuner.policy.load_state_dict(weights)
        tuner.set_env(venv)  # the rollout below resets into the tasks
        tuner.set_random_seed(seeds[0])  # torch and numpy; each env's seed is its own (SeededVecEnv)
        successes = _EpisodeSuccesses(len(tasks))
        _, callback = tuner._setup_learn(k * self.envs.episode_steps * len(tasks), successes)
        # tuner.env: venv as PPO wraps it (pixel learners: images made channel-first)
        tuner.collect_rollouts(tuner.env, callback, tuner.rollout_buffer, n_rollout_steps=k * self.envs.episode_steps)
        self.last_successes = [s for episodes in successes.successes for s in episodes]
        return tuner, tuner.rollout_buffer

    def batch(self, weights: dict, tasks: list[Task], k: int, seeds: list[int]) -> list[dict]:
        """The inner loop on each task from ``weights``: one adapted state dict per task."""
        tuner, full = self.collect(weights, tasks, k, seeds)
        adapted = []
        for i in range(len(tasks)):
            policy = tuner.policy
            policy.load_state_dict(weights)
            policy.optimizer = policy.optimizer_class(policy.parameters(), lr=self.settings["learning_rate"],
                                                      **policy.optimizer_kwargs)  # fmt: skip
            tuner.rollout_buffer = self._one_task(full, i, k)
            tuner.train()
            adapted.append({key: value.detach().clone() for key, value in policy.state_dict().items()})
        tuner.rollout_buffer = self.last_buffer = full
        return adapted

    def __call__(self, weights: dict, task: Task, k: int, seed: int) -> dict:
        """The inner loop on one task: the adapted state dict."""
        return self.batch(weights, [task], k, [seed])[0]


class PolicyAgent:
    """A trained PPO policy; adapts by fine-tuning (:class:`FineTuner`, the same for every
    learner that adapts by gradient steps; k = 0 changes no weight). The normalisation
    statistics stay those of training."""

    def __init__(self, learner: LearnerSpec, files: LearnerFiles, envs: EvalEnvs, finetune: dict | None = None) -> None:
        self.name, self.learner, self.files = learner.name, learner, files
        self.model, self.normalize = storage.load_model(files, learner)
        self.normalize.training = False
        self._trained_state = copy.deepcopy(self.model.policy.state_dict())
        self._envs = envs
        self.last_episodes: list[dict] = []  # the last info of the last rollout's episode
        self._finetune = finetune
        self._updates = True
        self._tuner: FineTuner | None = None

    def use_adaptation(self, setting: dict | None) -> None:
        """Adapt with ``setting`` from now on: changes to ``hyperparams.yaml: finetune``, or None
        for no update (``hyperparams.yaml: adaptation_menu``)."""
        self._finetune, self._updates, self._tuner = setting, setting is not None, None

    def reset(self) -> None:
        self.model.policy.load_state_dict(self._trained_state)

    def adapt(self, task: Task, k: int, seed: int) -> None:
        if k == 0 or not self._updates:
            return
        if self._tuner is None:
            self._tuner = FineTuner(self._envs, self.normalize, self._finetune, self.finetune_overrides())
        self.model.policy.load_state_dict(self._tuner(self._trained_state, task, k, seed))

    def finetune_overrides(self) -> dict:
        """The algorithm settings the learner was trained with, beyond its set's (a preset's)."""
        return read_json(self.files.meta).get("algo_overrides", {})

    def act(self, obs: dict) -> np.ndarray:
        batch = {key: value[None] for key, value in self.normalize.normalize_obs(obs).items()}
        action, _ = self.model.predict(batch, deterministic=True)
        return action[0]

    def rollout(self, task: Task, seed: int, render: bool = False) -> tuple[bool, list[np.ndarray]]:
        env = self._envs.make(task, render)
        info, frames = run_episode(env, self.act, seed, render)
        env.close()
        self.last_episodes = [info]
        return bool(info["is_success"]), frames


def load_agent(learner: LearnerSpec, files: LearnerFiles, envs: EvalEnvs) -> PolicyAgent:
    return PolicyAgent(learner, files, envs)
