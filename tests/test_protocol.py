"""Tests of the evaluation protocol's pieces: adaptation budgets, episode seeds, seed streams,
padded adaptation episodes and the report's verdicts.

Stub agents and envs where the protocol itself is under test; the banana env where the
wrapper meets it; a learner trained for a few hundred steps where training's seeds are.
"""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from stable_baselines3 import PPO

from banana_grasp.agents.common.seeding import SeedStreams
from banana_grasp.agents.learners import meta_training, registry
from banana_grasp.agents.learners import training as training_module
from banana_grasp.agents.learners.algorithms.ppo import FineTuner
from banana_grasp.agents.learners.envs import EnvSpec, EvalEnvs, PadEpisode, env_factory, make_vec
from banana_grasp.agents.learners.training import TrainRun, train
from banana_grasp.agents.protocol.evaluation import evaluate_heldout, evaluate_train
from banana_grasp.agents.protocol.presets import EvalProtocol, sample_tasks
from banana_grasp.agents.report.tables import detectable
from banana_grasp.agents.report.text import finding, gain_verdict
from banana_grasp.envs import MAX_EPISODE_STEPS, task_distribution

HELDOUT = EnvSpec("both", "heldout", "interleaved")
TRAIN_BOTH = EnvSpec("both", "train", "interleaved")  # tasks vary in colour and position
PPO_TINY = {"n_steps": 32, "batch_size": 64, "n_epochs": 1}  # 8 envs: 256 steps per rollout
N_ENVS = 8  # hyperparams.yaml: ppo and reptile

# ------------------------------------------------------------ adaptation budgets


@pytest.mark.parametrize("k", [[], (), [-1], [0, -1], [1, 0], [1, 1], [0, 1, 1], "1", [0.0, 1.0], -2])
def test_protocol_refuses_k_that_is_not_an_increasing_list_of_budgets(k) -> None:
    with pytest.raises(ValueError, match="k must be"):
        EvalProtocol(k=k)


@pytest.mark.parametrize(
    "k, ks, headline, trial",
    [([0, 1, 3], (0, 1, 3), 3, 4), ((0, 1), (0, 1), 1, 2), ([2], (2,), 2, 3), (0, (0,), 0, 1), (5, (5,), 5, 6)],
)
def test_protocol_k_becomes_a_tuple_with_its_largest_as_headline(k, ks: tuple, headline: int, trial: int) -> None:
    protocol = EvalProtocol(k=k)
    assert protocol.k == ks
    assert protocol.headline_k == headline
    assert protocol.trial_episodes == trial  # RL^2 trains on trials long enough for the largest k
    # A list from a YAML file and the tuple compare (and hash) as one protocol.
    assert protocol == EvalProtocol(k=list(ks)) and hash(protocol) == hash(EvalProtocol(k=tuple(ks)))


def test_default_protocol_measures_zero_shot_and_one_episode() -> None:
    protocol = EvalProtocol()
    assert (protocol.k, protocol.headline_k, protocol.trial_episodes) == ((0, 1), 1, 2)


# ------------------------------------------------------------------ evaluation


class RecordingAgent:
    """Records every call of the protocol with its seed; succeeds on even episode seeds."""

    last_episodes: list = []  # noqa: RUF012 (a stub)

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple] = []

    def reset(self) -> None:
        self.calls.append(("reset",))

    def adapt(self, task, k: int, seed: int) -> None:
        self.calls.append(("adapt", task, k, seed))

    def rollout(self, task, seed: int, render: bool = False):
        self.calls.append(("rollout", task, seed))
        return seed % 2 == 0, []


def _seeds(calls: list[tuple], what: str) -> list[int]:
    return [call[-1] for call in calls if call[0] == what]


def test_evaluate_heldout_resets_adapts_and_plays_for_each_task_and_k() -> None:
    tasks, ks, episodes = sample_tasks(2, 7, HELDOUT), (0, 1, 3), 2
    agent = RecordingAgent("a")
    outcomes = evaluate_heldout(agent, tasks, ks, episodes, seed=4)

    expected_calls = []
    for task in tasks:
        for k in ks:
            expected_calls += [("reset",), ("adapt", task, k), ("rollout", task), ("rollout", task)]
    expected_calls.append(("reset",))  # the agent is left as trained
    assert [call[:3] if call[0] == "adapt" else call[:2] for call in agent.calls] == expected_calls

    assert [(o.learner, o.seed, o.phase, o.task, o.k, o.episode) for o in outcomes] == [
        ("a", 4, "heldout", t, k, e) for t in range(len(tasks)) for k in ks for e in range(episodes)
    ]
    # Each outcome is the success of its own rollout.
    assert [o.success for o in outcomes] == [seed % 2 == 0 for seed in _seeds(agent.calls, "rollout")]

    # Every (task, k, episode) gets its own evaluation seed, every (task, k) its own adaptation
    # seed: in particular a budget k does not replay the episodes of another.
    rollouts, adaptations = _seeds(agent.calls, "rollout"), _seeds(agent.calls, "adapt")
    assert len(set(rollouts)) == len(tasks) * len(ks) * episodes
    assert len(set(adaptations)) == len(tasks) * len(ks)
    per_k = {k: {o_seed for o, o_seed in zip(outcomes, rollouts) if o.k == k} for k in ks}
    assert not (per_k[0] & per_k[1]) and not (per_k[1] & per_k[3]) and not (per_k[0] & per_k[3])


def test_every_learner_plays_the_same_episode_seeds_for_a_training_seed() -> None:
    # Common random numbers: learners differ only by what they do, not by the episodes they get.
    tasks, ks = sample_tasks(3, 8, HELDOUT), (0, 1, 3)
    first, second, other_seed = RecordingAgent("meta"), RecordingAgent("single"), RecordingAgent("meta")
    evaluate_heldout(first, tasks, ks, 2, seed=1)
    evaluate_heldout(second, tasks, ks, 2, seed=1)
    evaluate_heldout(other_seed, tasks, ks, 2, seed=2)
    assert second.calls == first.calls
    for what in ("rollout", "adapt"):
        assert not set(_seeds(first.calls, what)) & set(_seeds(other_seed.calls, what)), what
    # The own-variation episodes get seeds of their own too.
    train_agent = RecordingAgent("meta")
    evaluate_train(train_agent, tasks, seed=1)
    assert not set(_seeds(train_agent.calls, "rollout")) & set(_seeds(first.calls, "rollout"))


# ----------------------------------------------------------------- seed streams


def test_seed_streams_of_different_training_seeds_share_no_env_seed() -> None:
    seeds = [s for training_seed in range(5) for s in SeedStreams(training_seed).envs(N_ENVS)]
    assert len(set(seeds)) == 5 * N_ENVS  # seeding env i with seed + i gave 12 values for 40 envs
    assert all(isinstance(s, int) and 0 <= s < 2**32 for s in seeds)


def test_seed_streams_are_reproducible_and_apart() -> None:
    streams, again = SeedStreams(3), SeedStreams(3)
    assert streams.envs(N_ENVS) == again.envs(N_ENVS)
    assert streams.policy() == again.policy()
    assert streams.tasks(4).random(5).tolist() == again.tasks(4).random(5).tolist()
    # The streams of one seed differ from each other and from another seed's.
    assert streams.policy() not in streams.envs(N_ENVS)
    assert streams.policy() != SeedStreams(4).policy()
    assert streams.tasks(4).random() != streams.tasks(5).random() != SeedStreams(4).tasks(4).random()
    with pytest.raises(ValueError, match="seed"):
        SeedStreams(-1).envs(1)


def test_reptile_iteration_keys_give_distinct_env_seeds() -> None:
    streams = SeedStreams(0)
    per_iteration = [streams.envs(N_ENVS)] + [streams.envs(N_ENVS, iteration) for iteration in range(200)]
    seeds = [s for group in per_iteration for s in group]
    assert len(set(seeds)) == len(seeds)
    assert streams.envs(N_ENVS, 7) == SeedStreams(0).envs(N_ENVS, 7)  # a resumed run continues the sequence
    assert not set(seeds) & set(SeedStreams(1).envs(N_ENVS, 7))


def _first_tasks(venv) -> list:
    """The task each env of ``venv`` draws at its first reset as a vector env."""
    venv.reset()
    tasks = [info["task"] for info in venv.venv.reset_infos]  # the DummyVecEnv under VecMonitor
    venv.close()
    return tasks


def test_make_vec_seeds_each_env_with_its_own_seed() -> None:
    factory = env_factory(registry.learner("multi-task"), TRAIN_BOTH)
    a, b = _first_tasks(make_vec(factory, [11, 12]))
    assert a != b
    assert _first_tasks(make_vec(factory, [11])) == [a]  # an env's stream depends on its seed only
    assert _first_tasks(make_vec(factory, [12, 11])) == [b, a]
    assert _first_tasks(make_vec(factory, [11, 11])) == [a, a]


def _train_recording_envs(monkeypatch, module, name: str, seed: int, steps: int, folder: Path) -> list:
    """Train ``name`` and return what ``module.make_vec`` was called with: (seeds, vector env)."""
    made = []

    def recording(factory, seeds):
        venv = make_vec(factory, seeds)
        made.append((list(seeds), venv))
        return venv

    monkeypatch.setattr(module, "make_vec", recording)
    train(TrainRun(registry.learner(name), seed, steps, str(folder), algo_overrides=PPO_TINY))
    return made


class Interrupt(Exception):
    """Raised from on_rollout to simulate a run killed after a checkpoint."""


class _ResetSeeds(gym.Wrapper):
    """Appends each seed ``reset`` is given (not None) to ``seeds``."""

    def __init__(self, env: gym.Env, seeds: list[int]) -> None:
        super().__init__(env)
        self.seeds = seeds

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.seeds.append(seed)
        return self.env.reset(seed=seed, options=options)


def _reptile_inner_loops(monkeypatch, seed: int, steps: int, folder: Path, **settings) -> list[tuple]:
    """Train Reptile; return each inner loop's (task given, task played, k, env seed given,
    env seed its env was reset with), in order."""
    calls, made, reset_seeds = [], [], []

    class RecordingEnvs(EvalEnvs):  # the inner loops' envs, as made
        def make(self, task, render: bool = False, trial_episodes: int = 1) -> gym.Env:
            made.append(_ResetSeeds(super().make(task, render, trial_episodes), reset_seeds))
            return made[-1]

    class Recording(FineTuner):
        def batch(self, weights: dict, tasks: list, k: int, seeds: list[int]) -> list[dict]:
            adapted = super().batch(weights, tasks, k, seeds)
            played = [env.unwrapped.task for env in made[-len(tasks) :]]  # each raw env's task, after its episodes
            calls.extend(zip(tasks, played, [k] * len(tasks), seeds, reset_seeds[-len(tasks) :]))
            return adapted

    monkeypatch.setattr(meta_training, "EvalEnvs", RecordingEnvs)
    monkeypatch.setattr(meta_training, "FineTuner", Recording)
    train(TrainRun(registry.learner("reptile"), seed, steps, str(folder), algo_overrides=PPO_TINY, **settings))
    return calls


def test_reptile_meta_iterations_draw_their_own_tasks_and_env_seeds(monkeypatch, tmp_path: Path) -> None:
    # 1600 steps: two meta-iterations of 8 inner loops (hyperparams.yaml: meta_batch_tasks),
    # each k = 1 episode (the default protocol's headline k) of 100 steps.
    calls = _reptile_inner_loops(monkeypatch, 0, 1600, tmp_path / "s0")
    assert len(calls) == 2 * 8 and all(k == 1 for _, _, k, _, _ in calls)
    # Each inner loop plays the task it is given (its env made once, re-pinned each iteration),
    # from a reset with the env seed it is given, one of its own.
    assert all(given == played for given, played, *_ in calls)
    assert all(seed == reset_with for *_, seed, reset_with in calls)
    tasks = task_distribution("color-or-position", "train", "interleaved")
    assert all(tasks.contains(given) for given, *_ in calls)
    assert len({given for given, *_ in calls}) > 8, "the meta-iterations drew the same tasks"
    seeds = [seed for *_, seed, _ in calls]
    assert len(set(seeds)) == len(seeds), "two inner loops share an env seed"
    assert not set(seeds) & set(SeedStreams(0).envs(N_ENVS))  # nor one of the envs the model is built on
    other = _reptile_inner_loops(monkeypatch, 1, 800, tmp_path / "s1")
    assert not set(seeds) & {seed for *_, seed, _ in other}

    # Killed at the end of the 2nd meta-iteration (the 1st is checkpointed), the run replays
    # exactly the 2nd: the iteration index keys the task draws and env seeds, so a resumed
    # run continues the sequence, and ends with the uninterrupted run's weights.
    folder = tmp_path / "resumed"

    def interrupt(steps: int) -> None:
        if steps == 1600:
            raise Interrupt

    with pytest.raises(Interrupt):
        _reptile_inner_loops(monkeypatch, 0, 1600, folder, checkpoint_every=1, on_rollout=interrupt)
    assert _reptile_inner_loops(monkeypatch, 0, 1600, folder) == calls[8:]
    resumed = PPO.load(folder / "model.zip", device="cpu").policy.state_dict()
    uninterrupted = PPO.load(tmp_path / "s0" / "model.zip", device="cpu").policy.state_dict()
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[key], uninterrupted[key]) for key in resumed)


def test_training_envs_draw_from_the_env_stream_of_their_seed(monkeypatch, tmp_path: Path) -> None:
    # 256 steps of 8 envs: 32 steps each, no episode ends, so each env's reset info is still
    # that of its first training episode.
    made = _train_recording_envs(monkeypatch, training_module, "multi-task", 0, 256, tmp_path / "learner")
    ((seeds, venv),) = made
    assert seeds == SeedStreams(0).envs(N_ENVS)
    trained_on = [info["task"] for info in venv.venv.reset_infos]
    factory = env_factory(registry.learner("multi-task"), EnvSpec("color-or-position", "train", "interleaved"))
    for seed, task in zip(seeds, trained_on):
        env = factory()
        first = env.reset(seed=seed)[1]["task"]
        env.close()
        assert task == first, f"env seeded {seed} trained first on {task}, not the first task of its stream"


# -------------------------------------------------------------- padded episodes


class StepCounter(gym.Env):
    """Observation: the steps taken; reward 10 + steps; terminates at step ``end`` (never if None).
    Refuses a step after termination, as an env in an absorbing state has nothing to simulate."""

    observation_space = spaces.Box(0.0, 1000.0, (1,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, end: int | None) -> None:
        self.end, self.steps, self.over = end, 0, False

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps, self.over = 0, False
        return np.array([0.0], np.float32), {}

    def step(self, action):
        assert not self.over, "stepped after termination"
        self.steps += 1
        self.over = self.end is not None and self.steps >= self.end
        info = {"steps": self.steps, "is_success": self.steps % 2 == 1}
        return np.array([self.steps], np.float32), 10.0 + self.steps, self.over, False, info


def _episode(env: gym.Env) -> list[tuple]:
    """(obs, reward, terminated, truncated, info) of each step of one episode."""
    env.reset(seed=0)
    transitions = []
    while not transitions or not (transitions[-1][2] or transitions[-1][3]):
        assert len(transitions) < 1000, "the episode does not end"
        transitions.append(env.step(env.action_space.sample()))
    return transitions


def test_pad_episode_keeps_an_early_terminated_episode_in_its_last_state() -> None:
    length, end = 10, 3
    env = PadEpisode(TimeLimit(StepCounter(end), length), length)
    for _ in range(2):  # and again after a reset
        steps = _episode(env)
        assert len(steps) == length
        observations = [obs[0] for obs, *_ in steps]
        assert observations == [1, 2, 3] + [3] * (length - end)
        rewards = [reward for _, reward, *_ in steps]
        assert rewards == [11.0, 12.0, 13.0] + [0.0] * (length - end)  # the terminal step's reward kept
        assert [(terminated, truncated) for _, _, terminated, truncated, _ in steps] == (
            [(False, False)] * (length - 1) + [(True, False)]
        )
        padding = [info for *_, info in steps[end:]]
        assert all(info["steps"] == end and info["is_success"] for info in padding)  # the terminal step's
        assert [info["padded_steps"] for info in padding] == list(range(1, length - end + 1))


def test_pad_episode_passes_a_full_length_episode_through() -> None:
    length = 10
    padded = _episode(PadEpisode(TimeLimit(StepCounter(None), length), length))
    plain = _episode(TimeLimit(StepCounter(None), length))
    assert len(padded) == len(plain) == length
    for (obs, *rest, info), (plain_obs, *plain_rest, plain_info) in zip(padded, plain):
        np.testing.assert_array_equal(obs, plain_obs)
        assert rest == plain_rest and info == plain_info
    assert padded[-1][2:4] == (False, True)  # truncated, as the time limit says
    # Terminating at the last step is passed through as it is.
    last = _episode(PadEpisode(TimeLimit(StepCounter(length), length), length))
    assert len(last) == length and last[-1][1:3] == (10.0 + length, True)


def test_pad_episode_on_a_banana_that_leaves_the_table() -> None:
    env = PadEpisode(env_factory(registry.learner("multi-task"), TRAIN_BOTH)(), MAX_EPISODE_STEPS)
    env.reset(seed=0)
    still = np.zeros(5, np.float32)
    for _ in range(4):
        _, _, terminated, truncated, _ = env.step(still)
        assert not (terminated or truncated)
    raw = env.unwrapped
    banana = raw.model.joint("banana").qposadr[0]
    raw.data.qpos[banana : banana + 3] = [0.6, 0.0, -0.2]  # beyond the table's edge (0.35 m), below its top
    obs, reward, terminated, truncated, info = env.step(still)  # the raw env terminates here, step 5
    assert not (terminated or truncated) and not info["physics_diverged"]
    assert reward == sum(info["reward_terms"].values()) and reward > 0.0  # the raw step's, passed through
    last = obs
    steps = 5
    while not (terminated or truncated):
        assert steps < MAX_EPISODE_STEPS, "the episode does not end"
        obs, reward, terminated, truncated, info = env.step(still)
        steps += 1
        assert reward == 0.0
        assert all(np.array_equal(obs[key], last[key]) for key in obs)
    assert steps == MAX_EPISODE_STEPS and terminated and not truncated
    assert info["padded_steps"] == MAX_EPISODE_STEPS - 5
    env.close()


# ----------------------------------------------------------------- the verdicts


def _estimate(mean: float, half: float = 0.05) -> dict:
    return {"mean": mean, "ci": [max(0.0, mean - half), min(1.0, mean + half)]}


def _row(role: str, kind: str, variation: str, zero_shot: float, after: float) -> dict:
    return {
        "role": role, "kind": kind, "variation": variation, "greyscale": False,
        "train_success": None if role == "reference" else _estimate(0.95),
        "heldout_success": {"0": _estimate(zero_shot), "1": _estimate(after)},
    }  # fmt: skip


def _gain(low: float, high: float, detectable: float, baselines: list[str]) -> dict:
    return {
        "mean": (low + high) / 2, "ci": [low, high], "p_improvement": 0.5, "p_improvement_ci": [0.3, 0.7],
        "baselines": baselines, "detectable_gain": detectable,
        "p_improvement_each": {name: _estimate(0.5) for name in baselines},
    }  # fmt: skip


SINGLES = ["color-specialist", "position-specialist"]
ROLES = {  # learner -> (role, kind, variation), as in learners.yaml
    "color-specialist": ("single-task", "ppo", "color"),
    "position-specialist": ("single-task", "ppo", "position"),
    "multi-task": ("multi-task", "ppo", "color-or-position"),
    "rl2": ("meta", "rl2", "color-or-position"),
    "reptile": ("meta", "reptile", "color-or-position"),
    "expert": ("reference", "expert", "both"),
}


def _gains(low: float, high: float, detectable: float) -> dict:
    """The same gain interval against the best single-task learner and the multi-task learner."""
    return {
        "vs_best_single": _gain(low, high, detectable, SINGLES),
        "vs_multitask": _gain(low, high, detectable, ["multi-task"]),
    }


def _summary(after: dict[str, float], gains: dict[str, tuple], zero_shot: dict[str, float] | None = None) -> dict:
    """A summary at k = (0, 1): ``after`` success after k = 1 per learner, ``gains`` per
    meta-learner (low, high, detectable) of the gain over the best single-task learner at
    k = 1, and the same interval against the multi-task learner."""
    zero_shot = zero_shot or {}
    learners = {name: _row(*ROLES[name], zero_shot.get(name, 0.3), score) for name, score in after.items()}
    meta_gain = {meta: {k: _gains(*gain) for k in ("0", "1")} for meta, gain in gains.items()}
    return {"learners": learners, "meta_gain": meta_gain, "k": [0, 1], "headline_k": 1}


def _speed(reached: dict[str, int], seeds: int = 2) -> dict:
    """training_speed for ``seeds`` seeds, of which the first ``reached[name]`` reached 90%."""
    return {
        name: {
            "steps_per_second": 500.0,
            "to_90_percent": {
                str(s): ({"steps": 40000, "wall_seconds": 80.0} if s < n else None) for s in range(seeds)
            },
            "seeds_reaching_90_percent": n,
        }
        for name, n in reached.items()
    }


def _verdict(text: str, meta: str, against: str) -> str | None:
    """The verdict of the finding's sentence on ``meta`` vs ``against``, None if it has none."""
    match = re.search(re.escape(f"- {meta} vs {against}: ") + r"(.*?); gain [+-]\d\.\d\d \(95% CI", text)
    return match.group(1) if match else None


def _sentences(text: str) -> list[str]:
    """The finding's claims: one a bullet of its Markdown list."""
    lines = text.splitlines()
    assert all(line.startswith("- ") for line in lines), text
    return [line[2:] for line in lines]


AFTER = {"color-specialist": 0.4, "position-specialist": 0.6, "multi-task": 0.5, "rl2": 0.7, "reptile": 0.2,
         "expert": 1.0}  # fmt: skip
TRAINED = ["color-specialist", "position-specialist", "multi-task", "rl2", "reptile"]


def _check_every_sentence_comes_from_numbers(text: str, names: list[str]) -> None:
    # No fixed explanation: each sentence reports a number or a learner of this summary.
    for sentence in _sentences(text):
        assert re.search(r"\d", sentence) or any(name in sentence for name in names), sentence


def test_finding_gives_no_verdict_for_a_meta_learner_that_did_not_learn() -> None:
    # Both meta-learners' intervals lie above zero; only rl2 reached 90% training success on every seed.
    summary = _summary(AFTER, {"rl2": (0.02, 0.2, 0.1), "reptile": (0.02, 0.2, 0.1)})
    speed = _speed({**dict.fromkeys(TRAINED, 2), "reptile": 0})
    text = finding(summary, speed)
    assert "reptile did not learn within the budget: no verdict." in text
    assert _verdict(text, "reptile", "the best single-task learner") is None
    assert _verdict(text, "reptile", "multi-task") is None
    assert _verdict(text, "rl2", "the best single-task learner") == "a gain"
    assert _verdict(text, "rl2", "multi-task") == "a gain"
    assert "rl2 did not learn" not in text
    # The learners that did not learn are listed with their counts, the others not.
    listed = re.search(r"seeds that did: ([^)]*)\)", text).group(1)
    assert listed == "reptile 0 of 2"
    _check_every_sentence_comes_from_numbers(text, list(AFTER))

    # One seed of two is not enough either; a learner of 2 of 2 gets its verdict.
    text = finding(summary, _speed({**dict.fromkeys(TRAINED, 2), "rl2": 1}))
    assert "rl2 did not learn within the budget: no verdict." in text
    assert _verdict(text, "reptile", "the best single-task learner") == "a gain"
    assert re.search(r"seeds that did: ([^)]*)\)", text).group(1) == "rl2 1 of 2"
    # Untrained references have no training speed and are not flagged.
    text = finding(summary, _speed(dict.fromkeys(TRAINED, 2)))
    assert "no verdict" not in text and "seeds that did" not in text


def test_finding_gives_no_verdict_for_a_learner_below_90_percent_on_its_own_variation_on_a_seed() -> None:
    # Both meta-learners reached 90% training success on every seed and their intervals lie
    # above zero; rl2's second seed scored 0.85 on its own variation as the report scores it.
    summary = _summary(AFTER, {"rl2": (0.02, 0.2, 0.1), "reptile": (0.02, 0.2, 0.1)})
    for name in TRAINED:
        summary["learners"][name]["train_success_per_seed"] = [1.0, 0.95]
    summary["learners"]["rl2"]["train_success_per_seed"] = [1.0, 0.85]
    summary["learners"]["color-specialist"]["train_success_per_seed"] = [0.8, 0.9]
    text = finding(summary, _speed(dict.fromkeys(TRAINED, 2)))
    assert "rl2 did not learn within the budget: no verdict." in text
    assert _verdict(text, "rl2", "the best single-task learner") is None
    assert _verdict(text, "reptile", "the best single-task learner") == "a gain"
    listed = re.search(r"on some seed \(per seed: ([^)]*)\)", text).group(1)
    assert listed == "color-specialist 0.80, 0.90; rl2 1.00, 0.85"
    _check_every_sentence_comes_from_numbers(text, list(AFTER))
    # 0.9 on every seed is enough.
    summary["learners"]["rl2"]["train_success_per_seed"] = [0.9, 0.9]
    text = finding(summary, _speed(dict.fromkeys(TRAINED, 2)))
    assert _verdict(text, "rl2", "the best single-task learner") == "a gain"
    assert "rl2 0.90" not in text


@pytest.mark.parametrize(
    "low, high, detectable, verdict",
    [
        (0.02, 0.2, 0.1, "a gain"),
        (-0.3, -0.05, 0.1, "a loss"),
        (-0.1, 0.1, 0.15, "a tie"),  # the best single-task learner scored 0.6: room for 0.4
    ],
)
def test_finding_reads_the_verdict_off_the_interval(low: float, high: float, detectable: float, verdict: str) -> None:
    text = finding(_summary(AFTER, {"rl2": (low, high, detectable)}), _speed(dict.fromkeys(TRAINED, 2)))
    said = _verdict(text, "rl2", "the best single-task learner")
    assert said == verdict or said.startswith(verdict + ":"), said
    assert "ceiling" not in said and "cannot show a gain" not in said
    _check_every_sentence_comes_from_numbers(text, list(AFTER))


def test_a_tie_at_the_ceiling_is_called_so() -> None:
    # After k = 1 the position specialist is perfect (no room for any gain) while the
    # multi-task learner leaves 0.3 of room, more than the 0.15 this run could detect.
    # Zero-shot the ranking differs: the headline k's scores must decide.
    after = {**AFTER, "position-specialist": 1.0, "multi-task": 0.7, "rl2": 1.0}
    zero_shot = {"position-specialist": 0.3, "multi-task": 0.9}
    text = finding(_summary(after, {"rl2": (-0.05, 0.1, 0.15)}, zero_shot), _speed(dict.fromkeys(TRAINED, 2)))
    single = _verdict(text, "rl2", "the best single-task learner")
    assert single.startswith("a tie at the ceiling") and "cannot show a gain" in single, single
    assert "1.00" in single  # the best baseline's score that leaves no room
    multi = _verdict(text, "rl2", "multi-task")
    assert multi.startswith("a tie") and "ceiling" not in multi, multi


@pytest.mark.parametrize(
    "best, detectable, ceiling", [(0.95, 0.06, True), (0.95, 0.04, False), (0.5, 0.6, True), (0.5, 0.4, False)]
)
def test_gain_verdict_calls_a_ceiling_where_less_room_is_left_than_can_be_detected(
    best: float, detectable: float, ceiling: bool
) -> None:
    verdict = gain_verdict(_gain(-0.05, 0.05, detectable, SINGLES), best)
    assert verdict.startswith("a tie")
    assert ("cannot show a gain" in verdict) == ceiling, verdict
    # An interval off zero is a gain or a loss wherever the baseline stands.
    assert gain_verdict(_gain(0.01, 0.05, detectable, SINGLES), best) == "a gain"
    assert gain_verdict(_gain(-0.05, -0.01, detectable, SINGLES), best) == "a loss"


@pytest.mark.parametrize("best", [0.5, 0.92, 1.0])
def test_a_detectable_gain_above_one_is_never_printed(best: float) -> None:
    """No gain exceeds 1: a run whose smallest detectable gain is 1.43 could detect none, and
    its words and table say that instead of the figure (wherever the best baseline stands)."""
    gain = _gain(-1.0, 1.0, 1.43, SINGLES)
    verdict = gain_verdict(gain, best)
    assert verdict.startswith("a tie") and "could not detect even a gain of 1" in verdict, verdict
    assert "1.43" not in verdict and "ceiling" not in verdict
    assert gain_verdict(_gain(-0.1, 0.1, 0.99, SINGLES), 0.0).endswith("could detect: 0.99)")  # 0.99 <= 1: the figure
    assert detectable(1.43) == "none" and detectable(1.0) == "1.00" and detectable(0.2) == "0.20"


def _first_sentence(text: str) -> str:
    return _sentences(text)[0]


def test_finding_names_every_learner_tied_for_the_best() -> None:
    speed = _speed(dict.fromkeys(TRAINED, 2))
    # The expert (a reference) scores more, but is not a contender; zero-shot another learner leads.
    after = {**AFTER, "position-specialist": 0.8, "rl2": 0.8}
    text = finding(_summary(after, {"rl2": (-0.1, 0.1, 0.15)}, {"color-specialist": 0.9}), speed)
    first = _first_sentence(text)
    assert "tied" in first and "position-specialist" in first and "rl2" in first and "0.80" in first, first
    assert not any(name in first for name in ("color-specialist", "multi-task", "reptile", "expert")), first

    after = {**AFTER, "position-specialist": 0.8, "rl2": 0.7}
    first = _first_sentence(finding(_summary(after, {"rl2": (-0.2, 0.0, 0.15)}), speed))
    assert "tied" not in first and "position-specialist" in first and "0.80" in first, first
    assert not any(name in first for name in ("color-specialist", "multi-task", "rl2", "reptile", "expert")), first

    # Learners all at zero are not a tie for the best: nothing was lifted.
    zeros = {name: 0.0 for name in AFTER if name != "expert"} | {"expert": 1.0}
    first = _first_sentence(finding(_summary(zeros, {"rl2": (-0.05, 0.05, 0.1)}), speed))
    assert "tied" not in first and "No learner" in first, first


def test_training_speed_counts_a_training_stopped_by_its_success_check(tmp_path: Path) -> None:
    """A seed whose sampled rollouts never averaged 90% but whose training stopped at a
    deterministic check of >= 90% reached 90% there; a lower threshold, or no stop, is not."""
    from banana_grasp.agents.common.curves import append_curve
    from banana_grasp.agents.common.files import write_json_atomic
    from banana_grasp.agents.common.layout import RunLayout
    from banana_grasp.agents.report.speed import training_speed

    run = RunLayout(tmp_path)
    for seed, stopped in ((0, 0.95), (1, None), (2, 0.5)):
        files = run.learner("color-specialist", seed)
        files.folder.mkdir(parents=True)
        for i, rate in enumerate((0.2, 0.7, 0.8), start=1):
            append_curve(files.curve, (1000 * i, rate, 8, 10.0 * i))
        write_json_atomic(files.meta, {"steps": 3000, "stopped_at_success": stopped})
    speed = training_speed(run, ["color-specialist"], [0, 1, 2])["color-specialist"]
    assert speed["to_90_percent"] == {"0": {"steps": 3000, "wall_seconds": 30.0}, "1": None, "2": None}
    assert speed["seeds_reaching_90_percent"] == 1
    assert speed["steps_per_second"] == 100.0
