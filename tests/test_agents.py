"""Tests for the learners, adaptation, evaluation and storage of banana_grasp.agents.

Every learner is trained for a few hundred steps only (nothing learns): the tests check
the plumbing, files and interfaces, not performance. All outputs go to pytest's tmp dirs.
"""

from __future__ import annotations

import io
import itertools
import shutil
import tempfile
import time
import zipfile
from importlib import metadata, resources
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3 import PPO

from banana_grasp.agents.common.curves import read_curve
from banana_grasp.agents.common.files import read_json, sha256_file, write_json_atomic
from banana_grasp.agents.common.layout import LearnerFiles, RunLayout
from banana_grasp.agents.families import raw_keys
from banana_grasp.agents.learners import registry, stopping, storage
from banana_grasp.agents.learners.algorithms import fomaml
from banana_grasp.agents.learners.algorithms.expert import ExpertAgent
from banana_grasp.agents.learners.algorithms.ppo import FineTuner, PolicyAgent
from banana_grasp.agents.learners.algorithms.random_policy import RandomAgent
from banana_grasp.agents.learners.algorithms.rl2 import RL2Agent
from banana_grasp.agents.learners.algorithms.trial_ppo import TrialPPO
from banana_grasp.agents.learners.envs import EnvSpec, EvalEnvs, env_factory, run_episode
from banana_grasp.agents.learners.registry import LearnerSpec, hyperparameters, load_agent
from banana_grasp.agents.learners.training import TrainRun, train
from banana_grasp.agents.protocol import presets
from banana_grasp.agents.protocol.evaluation import Outcome, evaluate_heldout, evaluate_train, success_matrix
from banana_grasp.agents.protocol.finetuning import measure_finetuning
from banana_grasp.agents.protocol.presets import EvalProtocol, Preset, sample_tasks
from banana_grasp.agents.run.jobs import train_jobs
from banana_grasp.envs import MAX_EPISODE_STEPS, FixedTask, Trial, task_distribution

PPO_TINY = {"n_steps": 32, "batch_size": 64, "n_epochs": 1}  # 8 envs: 256 steps per rollout
# RL^2 trains TrialPPO: one rollout is one trial per env, n_steps the trial's length (set by
# rl2.train, not an override): 2 episodes (k = 1, the default protocol) x 100 steps = 200
# steps, so 8 envs x 200 = 1600 steps per rollout; minibatches of 4 of the 8 trials.
RL2_TINY = {"minibatch_trials": 4, "n_epochs": 1}
N_ENVS = 8
TRIAL_STEPS = 2 * MAX_EPISODE_STEPS  # RL^2's n_steps with the default protocol
RENDER_SIZE = 256  # the env's default render_size
HELDOUT = EnvSpec("both", "heldout", "interleaved")  # the held-out combined variation
# Reptile's meta-iteration (hyperparams.yaml: 8 tasks) fine-tunes on k = 1 episode (the
# default protocol's headline k) of each task: 8 x 1 x 100 = 800 env steps, one curve row.
# Its algo_overrides reach only the model it saves, not the inner loop's step count.
META_ITERATION = 8 * 1 * MAX_EPISODE_STEPS
# First-order MAML's: the same inner loop, then one more episode of each task by its adapted
# policy: 8 x (1 + 1) x 100 = 1,600 env steps, one curve row.
FOMAML_ITERATION = 8 * (1 + 1) * MAX_EPISODE_STEPS

# learner -> (budget, overrides). PPO's budget is not a whole number of rollouts, so the
# saved step count must round up past it; RL^2 gets one rollout (8 trials), Reptile two
# meta-iterations (2 x 800).
BUDGETS = {
    "position-specialist": (300, PPO_TINY),
    "position-specialist-grey": (256, PPO_TINY),
    "rl2": (N_ENVS * TRIAL_STEPS, RL2_TINY),
    "reptile": (2 * META_ITERATION, PPO_TINY),
    "fomaml": (2 * FOMAML_ITERATION, PPO_TINY),
}
ALGORITHMS = {"ppo": PPO, "reptile": PPO, "fomaml": PPO, "rl2": TrialPPO}  # what each kind saves
VERSIONED = ("banana-grasp", "mujoco", "gymnasium", "stable-baselines3", "sb3-contrib", "torch", "numpy")


class Interrupt(Exception):
    """Raised from on_rollout to simulate a run killed after a checkpoint."""


def _run(spec: registry.LearnerSpec, seed: int, steps: int, folder: Path, overrides: dict, **kwargs) -> TrainRun:
    return TrainRun(spec, seed, steps, str(folder), algo_overrides=overrides, **kwargs)


def _saved_paths(files: LearnerFiles) -> tuple[Path, ...]:
    return (files.model, files.normalize, files.meta, files.curve)


def _mtimes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in _saved_paths(LearnerFiles(folder))}


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _yaml(name: str) -> dict:
    """A config file as written, read here without the registry."""
    return yaml.safe_load((resources.files("banana_grasp.agents") / "config" / name).read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, tuple[Path, dict, float]]:
    """Each learner kind trained once at a tiny budget: name -> (folder, meta, seconds)."""
    root = tmp_path_factory.mktemp("learners")
    out = {}
    for name, (budget, overrides) in BUDGETS.items():
        folder = root / name
        started = time.perf_counter()
        meta = train(_run(registry.learner(name), 3, budget, folder, overrides))
        out[name] = (folder, meta, time.perf_counter() - started)
    return out


@pytest.fixture(scope="module")
def heldout_tasks() -> list:
    return sample_tasks(2, 12345, HELDOUT)


# ----------------------------------------------------------------- training


@pytest.mark.parametrize("name", list(BUDGETS))
def test_train_saves_a_complete_learner_and_skips_when_done(trained, name: str) -> None:
    folder, _, seconds = trained[name]
    budget, overrides = BUDGETS[name]
    spec, files = registry.learner(name), LearnerFiles(folder)
    for path in _saved_paths(files):
        assert path.is_file(), f"{path.name} missing from {folder}"
    assert files.is_complete()
    assert not files.checkpoint.folder.exists(), "checkpoint/ must be removed once training finishes"

    # meta.json against what is known without the trainer: the call's arguments, learners.yaml,
    # hyperparams.yaml and the installed packages.
    saved = read_json(files.meta)
    declared = _yaml("learners.yaml")[name]
    assert saved["learner"] == name and saved["seed"] == 3
    assert saved["kind"] == declared["kind"] and saved["variation"] == declared["variation"]
    assert saved["greyscale"] is declared.get("greyscale", False)
    assert saved["steps"] >= budget
    assert saved["stopped_at_success"] is None  # no threshold given: the whole budget
    if name == "position-specialist":  # 300 steps is not a whole number of 256-step rollouts
        assert saved["steps"] == 512
    hp = _yaml("hyperparams.yaml")[declared["hyperparameters"]]
    # VecNormalize discounts returns with the algorithm's gamma (hyperparams.yaml's header).
    assert saved["hyperparameters"] == {**hp, "normalize": {**hp["normalize"], "gamma": hp["algo"]["gamma"]}}
    assert saved["algo_overrides"] == overrides
    assert saved["versions"] == {package: metadata.version(package) for package in VERSIONED}
    if name == "rl2":
        assert saved["trial_episodes"] == 2  # the largest k + 1, k = (0, 1) by default
    final = saved["final_train_success"]
    assert final is None or 0.0 <= final <= 1.0
    # The saved model and normalisation were built with those settings, the overrides on top.
    model, normalize = storage.load_model(files, spec)
    assert isinstance(model, ALGORITHMS[spec.kind]) and model.num_timesteps == saved["steps"]
    algo = {**hp["algo"], **overrides}
    if spec.kind == "rl2":  # whole trials: n_steps is the trial's length, minibatches of whole trials
        algo_keys = ("minibatch_trials", "n_epochs", "gamma", "ent_coef", "learning_rate")
        assert model.n_steps == TRIAL_STEPS
    else:
        algo_keys = ("n_steps", "batch_size", "n_epochs", "gamma", "ent_coef", "learning_rate")
    for key in algo_keys:
        assert getattr(model, key) == algo[key], key
    assert model.policy_kwargs == algo["policy_kwargs"]
    assert (normalize.epsilon, normalize.clip_obs, normalize.gamma) == (
        hp["normalize"]["epsilon"], hp["normalize"]["clip_obs"], hp["algo"]["gamma"],
    )  # fmt: skip

    curve = read_curve(files.curve)
    assert curve, "curve.csv has no rows"
    steps = [row["steps"] for row in curve]
    assert steps == sorted(set(steps)) and steps[-1] == saved["steps"]
    # One row per rollout (RL^2: one trial per env), Reptile one per meta-iteration.
    rollout = {"ppo": N_ENVS * PPO_TINY["n_steps"], "rl2": N_ENVS * TRIAL_STEPS, "reptile": META_ITERATION,
               "fomaml": FOMAML_ITERATION}[spec.kind]  # fmt: skip
    assert steps == [rollout * (i + 1) for i in range(len(steps))]
    # Wall time: monotone, and never more than the time train() actually took.
    walls = [row["wall_seconds"] for row in curve]
    assert walls == sorted(walls)
    assert walls[-1] <= seconds + 0.05, f"curve claims {walls[-1]} s, training took {seconds:.2f} s"
    assert saved["wall_seconds"] == walls[-1]
    if spec.kind in ("reptile", "fomaml"):
        assert saved["meta_iterations"] == budget // rollout == len(curve) == 2
        assert saved["inner_episodes"] == 1  # k = 1, the default protocol's headline
        # Each row's success is the mean over that meta-iteration's 8 inner episodes (first-order
        # MAML: the 8 episodes its adapted policies played).
        assert all(row["episodes"] == 8 for row in curve)

    # A second call with the same (or a smaller) budget loads nothing, trains nothing and
    # returns the saved metadata.
    before = _mtimes(folder)

    def no_training(steps: int) -> None:
        raise AssertionError("train() trained again a learner that was complete")

    again = train(_run(spec, 3, budget, folder, overrides, on_rollout=no_training))
    assert again == saved
    again = train(_run(spec, 3, budget // 2, folder, overrides, on_rollout=no_training))
    assert again == saved
    assert _mtimes(folder) == before


def test_untrained_kinds_cannot_be_trained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="random"):
        train(TrainRun(registry.learner("random"), 0, 100, str(tmp_path / "random")))
    assert not (tmp_path / "random").exists()


@pytest.mark.parametrize(
    "name, budget, interrupt_after, checkpoint_steps, rollout",
    [
        # PPO: a checkpoint before every rollout, once the previous update is done; killed
        # at the end of the 2nd rollout (512 steps), it resumes from the 1st one's (256).
        ("position-specialist", 1024, 2, 256, N_ENVS * PPO_TINY["n_steps"]),
        # Reptile: checkpoints only between meta-iterations (800 steps each), written after
        # the iteration's curve row and on_rollout, and none after the last; killed there at
        # the end of the 2nd and last (1600 steps), it resumes from the end of the 1st.
        ("reptile", 2 * META_ITERATION, 2, META_ITERATION, META_ITERATION),
        ("fomaml", 2 * FOMAML_ITERATION, 2, FOMAML_ITERATION, FOMAML_ITERATION),
    ],
)
def test_interrupted_training_resumes_from_its_checkpoint(
    tmp_path: Path, name: str, budget: int, interrupt_after: int, checkpoint_steps: int, rollout: int
) -> None:
    spec, folder = registry.learner(name), tmp_path / name
    files = LearnerFiles(folder)
    seen: list[int] = []

    def interrupt(steps: int) -> None:
        seen.append(steps)
        if len(seen) == interrupt_after:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_run(spec, 0, budget, folder, PPO_TINY, checkpoint_every=1, on_rollout=interrupt))
    state = files.checkpoint.state
    assert state == folder / "checkpoint" / "state.json"
    assert state.is_file()
    assert read_json(state)["steps"] == checkpoint_steps
    assert not (folder / "meta.json").exists()
    assert not files.is_complete()

    resumed: list[int] = []
    meta = train(_run(spec, 0, budget, folder, PPO_TINY, checkpoint_every=1, on_rollout=resumed.append))
    assert resumed[0] == checkpoint_steps + rollout, "did not resume from the checkpoint"
    assert meta["steps"] >= budget
    assert read_json(folder / "meta.json")["steps"] == meta["steps"]
    assert not (folder / "checkpoint").exists()
    steps = [row["steps"] for row in read_curve(files.curve)]
    assert all(a < b for a, b in itertools.pairwise(steps)), f"curve steps not strictly increasing: {steps}"
    assert steps == list(range(rollout, meta["steps"] + 1, rollout))
    walls = [row["wall_seconds"] for row in read_curve(files.curve)]
    assert walls == sorted(walls)


# ------------------------------------------------------------ normalisation


@pytest.mark.parametrize("name", ["position-specialist", "position-specialist-grey"])
def test_vecnormalize_leaves_raw_keys_alone(trained, heldout_tasks, name: str) -> None:
    folder = trained[name][0]
    agent = load_agent(registry.learner(name), LearnerFiles(folder), HELDOUT)
    normalize = agent.normalize
    keys = set(normalize.observation_space.spaces)
    raw_present = keys & set(raw_keys())
    colour_key = "banana_luminance" if name.endswith("grey") else "banana_color"
    assert colour_key in raw_present
    assert set(normalize.norm_obs_keys) == keys - set(raw_keys())

    env = env_factory(registry.learner(name), HELDOUT, task=heldout_tasks[0])()
    obs, _ = env.reset(seed=0)
    env.close()
    normed = normalize.normalize_obs(obs)
    for key in raw_present:
        np.testing.assert_array_equal(normed[key], obs[key], err_msg=key)
    assert not np.allclose(normed["gripper_pos"], obs["gripper_pos"]), "gripper_pos should be normalised"


@pytest.mark.parametrize("name", list(BUDGETS))
def test_vecnormalize_floors_the_std_of_each_feature(trained, heldout_tasks, name: str) -> None:
    # Before a policy first lifts, the banana's height barely varies: without a floor on its
    # std, a lift of a few cm reads as a huge (clipped) input. epsilon 1e-4 floors it at 1 cm.
    spec = registry.learner(name)
    agent = load_agent(spec, LearnerFiles(trained[name][0]), HELDOUT)
    normalize = agent.normalize
    assert normalize.epsilon == hyperparameters(spec.hyperparameters)["normalize"]["epsilon"] == 1e-4
    env = env_factory(spec, HELDOUT, task=heldout_tasks[0])()
    obs, _ = env.reset(seed=0)
    env.close()
    rms = normalize.obs_rms["banana_pos"]
    rms.mean, rms.var = obs["banana_pos"].astype(np.float64), np.zeros(3)  # a feature constant in training
    lifted = {**obs, "banana_pos": obs["banana_pos"] + np.float32([0.0, 0.0, 0.05])}
    normed = normalize.normalize_obs(lifted)["banana_pos"]
    np.testing.assert_allclose(normed, [0.0, 0.0, 5.0], atol=1e-3)  # 5 cm / 1 cm, not clipped at 10


# --------------------------------------------------------------- adaptation


def test_policy_agent_adapts_by_finetuning_and_resets(trained, heldout_tasks, tmp_path, monkeypatch) -> None:
    files = LearnerFiles(trained["position-specialist"][0])
    agent = load_agent(registry.learner("position-specialist"), files, HELDOUT)
    assert isinstance(agent, PolicyAgent)
    task = heldout_tasks[0]
    saved = _weights(storage.load_model(files, registry.learner("position-specialist"))[0].policy)
    assert _same_weights(_weights(agent.model.policy), saved)

    agent.adapt(task, 0, seed=7)
    assert _same_weights(_weights(agent.model.policy), saved), "k=0 must change no weight"

    agent.adapt(task, 1, seed=7)
    adapted = _weights(agent.model.policy)
    assert not _same_weights(adapted, saved), "k=1 fine-tuning changed no weight"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # stable-baselines3's default log folder
    agent.adapt(task, 1, seed=7)  # from the trained weights again, same seed: same result
    assert _same_weights(_weights(agent.model.policy), adapted)
    assert not list(tmp_path.glob("SB3-*")), "fine-tuning left a log folder in the temporary folder"

    agent.reset()
    assert _same_weights(_weights(agent.model.policy), saved), "reset() must restore the trained weights"

    # The adaptation menu's settings (hyperparams.yaml: adaptation_menu): no update, or others.
    agent.use_adaptation(None)
    agent.adapt(task, 1, seed=7)
    assert _same_weights(_weights(agent.model.policy), saved), "no update must change no weight"
    agent.use_adaptation({"learning_rate": 1.0e-4})
    agent.adapt(task, 1, seed=7)
    gentle = _weights(agent.model.policy)
    assert not _same_weights(gentle, saved) and not _same_weights(gentle, adapted)
    agent.use_adaptation({})  # finetune as it is
    agent.adapt(task, 1, seed=7)
    assert _same_weights(_weights(agent.model.policy), adapted)
    agent.reset()

    success, frames = agent.rollout(task, seed=1)
    assert isinstance(success, bool) and frames == []
    success_r, frames = agent.rollout(task, seed=1, render=True)
    assert success_r == success  # deterministic policy, same seed
    assert len(frames) == MAX_EPISODE_STEPS + 1
    assert frames[0].shape == (RENDER_SIZE, RENDER_SIZE, 3) and frames[0].dtype == np.uint8


class _CountSteps(gym.Wrapper):
    """Appends 0 to ``episodes`` at each reset and counts the env steps of that episode."""

    def __init__(self, env: gym.Env, episodes: list[int]) -> None:
        super().__init__(env)
        self.episodes = episodes

    def reset(self, **kwargs):
        self.episodes.append(0)
        return self.env.reset(**kwargs)

    def step(self, action):
        self.episodes[-1] += 1
        return self.env.step(action)


class CountingEnvs(EvalEnvs):
    """Evaluation envs whose episodes' lengths (in env steps) are recorded in ``episodes``."""

    def __init__(self, learner: LearnerSpec, tasks: EnvSpec) -> None:
        super().__init__(learner, tasks)
        self.episodes: list[int] = []

    def make(self, task, render: bool = False, trial_episodes: int = 1) -> gym.Env:
        return _CountSteps(super().make(task, render, trial_episodes), self.episodes)


def _actions(agent: PolicyAgent, states: list[dict]) -> np.ndarray:
    """The agent's deterministic actions on ``states``."""
    return np.array([agent.act(obs) for obs in states])


# Mean |change| of the deterministic actions (in [-1, 1]) that counts as fine-tuning having
# moved the policy: 0.1 mm of servo target per step at full scale (2 cm), 1 cm over a 100-step
# episode, as much as the noise on the gripper's start position. A fine-tuning whose updates
# never reach the acting policy changes nothing (0.0, as a zero learning rate shows below).
# Measured on this fixture's barely trained learner with k = 3, hyperparams.yaml's finetune
# settings (10 epochs, lr 3e-4, batches of 50), 2 tasks x seeds 7-9: 0.020-0.036 (ppo.FineTuner,
# episodes padded to full length), so the test has a margin of 4x; whether the change is
# enough to adapt is measured on trained learners (scripts/measure_finetuning.py), not here.
MOVED = 0.005


def test_finetuning_on_k_whole_episodes_moves_the_actions_and_reset_restores_them(trained, heldout_tasks) -> None:
    spec = registry.learner("position-specialist")
    files = LearnerFiles(trained["position-specialist"][0])
    envs = CountingEnvs(spec, HELDOUT)
    agent = PolicyAgent(spec, files, envs)  # hyperparams.yaml's finetune settings
    task = heldout_tasks[0]
    states: list[dict] = []
    env = envs.make(task)
    run_episode(env, lambda obs: states.append(obs) or agent.act(obs), seed=5, render=False)
    env.close()
    assert len(states) == MAX_EPISODE_STEPS
    before = _actions(agent, states)

    envs.episodes.clear()
    agent.adapt(task, 3, seed=7)
    # Exactly 3 whole episodes of the task were played (the vector env's reset after the
    # last one plays nothing); this policy does not knock the banana off the table.
    assert [n for n in envs.episodes if n > 0] == [MAX_EPISODE_STEPS] * 3
    change = np.abs(_actions(agent, states) - before).mean()
    assert change > MOVED, f"fine-tuning on 3 episodes moved the actions by {change:.4f} only"

    agent.reset()
    np.testing.assert_array_equal(_actions(agent, states), before)

    # The agent's finetune settings are the ones used: with a zero learning rate nothing moves.
    frozen = PolicyAgent(spec, files, EvalEnvs(spec, HELDOUT), finetune={"learning_rate": 0.0})
    frozen.adapt(task, 3, seed=7)
    np.testing.assert_array_equal(_actions(frozen, states), before)


def test_measure_finetuning_reports_the_change_per_setting_and_k(trained, heldout_tasks) -> None:
    spec = registry.learner("position-specialist")
    files = LearnerFiles(trained["position-specialist"][0])
    protocol = EvalProtocol(k=(0, 3), heldout_tasks=1)
    assert protocol.evaluation_tasks() == heldout_tasks[:1]  # the task of the test above
    rows = measure_finetuning(spec, files, protocol, [{"learning_rate": 0.0}, {}], seed=0)
    assert [(row.get("learning_rate"), row["k"]) for row in rows] == [(0.0, 0), (0.0, 3), (None, 0), (None, 3)]
    # k = 0 changes no weight, nor does a zero learning rate; the default settings do.
    assert [row["action_change"] for row in rows[:3]] == [0.0, 0.0, 0.0]
    assert rows[3]["action_change"] > MOVED
    assert all(row["success"] in (0.0, 1.0) for row in rows)  # one task, one episode


def test_rl2_agent_adapts_in_context(trained, heldout_tasks) -> None:
    agent = load_agent(registry.learner("rl2"), LearnerFiles(trained["rl2"][0]), HELDOUT)
    assert isinstance(agent, RL2Agent)
    task = heldout_tasks[1]
    before = _weights(agent.model.policy)

    agent.adapt(task, 0, seed=2)
    success, frames = agent.rollout(task, seed=4, render=True)
    assert isinstance(success, bool)
    # One reset frame, then one per step of a 1-episode trial.
    assert len(frames) == 1 + MAX_EPISODE_STEPS

    agent.adapt(task, 1, seed=2)
    success, frames = agent.rollout(task, seed=4, render=True)
    assert isinstance(success, bool)
    # k = 1: the evaluated episode is the 2nd of a 2-episode trial; only it is filmed.
    assert len(agent.last_trial_successes) == 2 and success == agent.last_trial_successes[-1]
    assert len(frames) == 1 + MAX_EPISODE_STEPS
    assert frames[0].shape == (RENDER_SIZE, RENDER_SIZE, 3)
    assert agent.rollout(task, seed=4)[1] == []
    assert _same_weights(_weights(agent.model.policy), before), "RL^2 must not change its weights"

    agent.reset()
    assert len(agent.rollout(task, seed=4, render=True)[1]) == 1 + MAX_EPISODE_STEPS


def test_reference_agents_honour_the_interface(heldout_tasks) -> None:
    random_agent = load_agent(registry.learner("random"), None, HELDOUT)
    expert = load_agent(registry.learner("expert"), None, HELDOUT)
    assert isinstance(random_agent, RandomAgent) and isinstance(expert, ExpertAgent)
    for agent in (random_agent, expert):
        agent.reset()
        agent.adapt(heldout_tasks[0], 1, seed=0)
        success, frames = agent.rollout(heldout_tasks[0], seed=0)
        assert isinstance(success, bool) and frames == []
    assert random_agent.rollout(heldout_tasks[0], seed=5) == random_agent.rollout(heldout_tasks[0], seed=5)
    assert all(expert.rollout(task, seed=11)[0] for task in heldout_tasks), "the expert fails a held-out task"
    success, frames = expert.rollout(heldout_tasks[0], seed=11, render=True)
    assert success and len(frames) == MAX_EPISODE_STEPS + 1


def test_load_agent_needs_a_folder_for_trained_learners() -> None:
    with pytest.raises(ValueError, match="position-specialist"):
        load_agent(registry.learner("position-specialist"), None, HELDOUT)


# --------------------------------------------------------------- evaluation


class SpyAgent:
    """Records the protocol's calls; succeeds only after adapting."""

    name = "spy"
    last_episodes: list = []  # noqa: RUF012 (a stub)

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.adapted = False

    def reset(self) -> None:
        self.calls.append(("reset",))
        self.adapted = False

    def adapt(self, task, k: int, seed: int) -> None:
        self.calls.append(("adapt", task, k))
        self.adapted = k > 0

    def rollout(self, task, seed: int, render: bool = False):
        self.calls.append(("rollout", task, seed))
        return self.adapted, []


def test_evaluate_heldout_follows_the_protocol(heldout_tasks) -> None:
    tasks = sample_tasks(3, 1, HELDOUT)
    spy = SpyAgent()
    outcomes = evaluate_heldout(spy, tasks, (0, 2), episodes=2, seed=9)
    assert len(outcomes) == 2 * 2 * 3
    assert [(o.phase, o.k, o.task, o.episode) for o in outcomes] == [
        ("heldout", k, t, e) for t in range(3) for k in (0, 2) for e in range(2)
    ]
    assert all(o.learner == "spy" and o.seed == 9 for o in outcomes)
    assert all(o.success == (o.k > 0) for o in outcomes)
    # Each k from a reset agent: zero-shot (adapt with 0), then adapted with 2 episodes.
    per_task = [("reset",), ("adapt",), ("rollout",), ("rollout",)] * 2
    kinds = [call[:1] for call in spy.calls]
    assert kinds == per_task * 3 + [("reset",)]
    assert [c[1:] for c in spy.calls if c[0] == "adapt"] == [(task, k) for task in tasks for k in (0, 2)]
    rollout_seeds = [c[2] for c in spy.calls if c[0] == "rollout"]
    assert len(set(rollout_seeds)) == len(rollout_seeds), "episodes must get distinct seeds"
    assert evaluate_heldout(SpyAgent(), tasks, (0, 2), episodes=2, seed=9) == outcomes

    zero_shot = evaluate_heldout(SpyAgent(), tasks, (0,), episodes=3, seed=9)
    assert len(zero_shot) == 3 * 3 and {(o.phase, o.k) for o in zero_shot} == {("heldout", 0)}
    assert not any(o.success for o in zero_shot)
    for ks, episodes in (((-1,), 1), ((), 1), ((0, 1), 0)):
        with pytest.raises(ValueError):
            evaluate_heldout(SpyAgent(), tasks, ks, episodes=episodes, seed=0)

    train_outcomes = evaluate_train(SpyAgent(), tasks, seed=4)
    assert [(o.phase, o.k, o.task, o.episode, o.seed) for o in train_outcomes] == [
        ("train", 0, t, 0, 4) for t in range(3)
    ]

    # A real agent: the expert, through the same protocol.
    expert = load_agent(registry.learner("expert"), None, HELDOUT)
    assert isinstance(expert, ExpertAgent)
    real = evaluate_heldout(expert, heldout_tasks, (0, 1), episodes=1, seed=0)
    assert len(real) == 1 * 2 * len(heldout_tasks) and all(o.success for o in real)


def test_success_matrix_shape_and_missing_outcomes() -> None:
    outcomes = [
        Outcome("a", seed, "heldout", 1, task, episode, success=(seed + task + episode) % 2 == 0)
        for seed in (0, 5)
        for task in range(3)
        for episode in range(2)
    ]
    outcomes.append(Outcome("b", 0, "heldout", 1, 0, 0, True))  # another learner: ignored
    outcomes.append(Outcome("a", 0, "heldout", 0, 0, 0, True))  # another k: ignored
    outcomes.append(Outcome("a", 0, "train", 0, 0, 0, True))  # another phase: ignored
    matrix = success_matrix(outcomes, "a", "heldout", 1, [0, 5], 3)
    assert matrix.shape == (2, 3)
    np.testing.assert_array_equal(matrix, np.full((2, 3), 0.5))
    only_ok = [o for o in outcomes if not (o.learner == "a" and o.episode == 1)]
    np.testing.assert_array_equal(success_matrix(only_ok, "a", "heldout", 1, [0, 5], 3), [[1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(success_matrix(outcomes, "a", "heldout", 0, [0], 1), [[1.0]])
    np.testing.assert_array_equal(success_matrix(outcomes, "a", "train", 0, [0], 1), [[1.0]])
    with pytest.raises(ValueError, match="a"):
        success_matrix(outcomes, "a", "heldout", 1, [0, 5, 7], 3)  # seed 7 never evaluated
    with pytest.raises(ValueError):
        success_matrix(outcomes, "a", "heldout", 1, [0, 5], 4)  # task 3 never evaluated
    with pytest.raises(ValueError, match="k=3"):
        success_matrix(outcomes, "a", "heldout", 3, [0, 5], 3)  # k = 3 never evaluated
    with pytest.raises(ValueError):
        success_matrix(outcomes, "a", "train", 0, [0, 5], 1)  # seed 5 has no train outcome


# ------------------------------------------------------------ storage errors


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        storage.load_model(LearnerFiles(tmp_path), registry.learner("position-specialist"))
    assert str(tmp_path / "model.zip") in str(error.value)
    with pytest.raises(FileNotFoundError, match="meta.json"):
        read_json(tmp_path / "meta.json")


def _relist(files: LearnerFiles, record: Path | None = None) -> None:
    """Make ``files``' record list the SHA-256 of the files as they are now (a consistent folder)."""
    record = record or files.meta
    data = read_json(record)
    data["sha256"] = {path.name: sha256_file(path) for path in (files.model, files.normalize)}
    write_json_atomic(record, data)


def test_corrupt_files_give_value_errors_naming_them(trained, tmp_path: Path) -> None:
    source = trained["position-specialist"][0]
    spec = registry.learner("position-specialist")
    folder = tmp_path / "learner"
    folder.mkdir()
    files = LearnerFiles(folder)
    for name in ("normalize.json", "meta.json"):
        shutil.copy(source / name, folder / name)
    model_bytes = (source / "model.zip").read_bytes()

    # normalize.json present but model.zip missing
    with pytest.raises(FileNotFoundError, match="model.zip"):
        storage.load_model(files, spec)

    def expect_corrupt_model(data: bytes) -> None:
        (folder / "model.zip").write_bytes(data)
        # As copied, against the record's SHA-256; then listed, so that the zip itself is read.
        for relist in (False, True):
            if relist:
                _relist(files)
            with pytest.raises(ValueError) as error:
                storage.load_model(files, spec)
            assert str(folder / "model.zip") in str(error.value)
        shutil.copy(source / "meta.json", folder / "meta.json")

    expect_corrupt_model(b"this is not a zip file\x00\x01\x02" * 10)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "a zip, but not a model")
    expect_corrupt_model(buffer.getvalue())
    # Truncated copies (an interrupted transfer), at lengths that fail in different places.
    for n in (100, len(model_bytes) // 2, len(model_bytes) - 49):
        expect_corrupt_model(model_bytes[:n])

    (folder / "model.zip").write_bytes(model_bytes)
    storage.load_model(files, spec)  # intact again: loads
    normalize_bytes = (folder / "normalize.json").read_bytes()
    for data in (b"garbage\x00\xff" * 20, normalize_bytes[: len(normalize_bytes) // 2], b"", b"[1, 2]"):
        (folder / "normalize.json").write_bytes(data)
        for relist in (False, True):
            if relist:
                _relist(files)
            with pytest.raises(ValueError) as error:
                storage.load_model(files, spec)
            assert str(folder / "normalize.json") in str(error.value)
        shutil.copy(source / "meta.json", folder / "meta.json")

    bad_json = tmp_path / "meta.json"
    for text in ("{not json", '{"steps": 1'):
        bad_json.write_text(text)
        with pytest.raises(ValueError) as error:
            read_json(bad_json)
        assert str(bad_json) in str(error.value)
    bad_json.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="meta.json"):
        read_json(bad_json)


def test_corrupt_checkpoint_is_reported_not_silently_retrained(trained, tmp_path: Path) -> None:
    folder = tmp_path / "learner"
    checkpoint = LearnerFiles(folder).checkpoint
    checkpoint.folder.mkdir(parents=True)
    checkpoint.model.write_bytes(b"garbage")
    shutil.copy(trained["position-specialist"][0] / "normalize.json", checkpoint.normalize)
    write_json_atomic(checkpoint.state, {"steps": 256})
    _relist(checkpoint, checkpoint.state)  # its record lists the garbage: the zip itself is refused
    with pytest.raises(ValueError, match="checkpoint"):
        train(_run(registry.learner("position-specialist"), 0, 512, folder, PPO_TINY))


# ------------------------------------------------------------ configuration


def test_unknown_learner_and_preset_list_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="nope") as error:
        registry.learner("nope")
    for name in ("position-specialist", "rl2", "reptile", "expert"):
        assert name in str(error.value)
    with pytest.raises(ValueError, match="nope") as error:
        presets.preset("nope")
    for name in ("tiny", "quick", "full"):
        assert name in str(error.value)
    with pytest.raises(ValueError, match="nope"):
        registry.hyperparameters("nope")


def test_a_suite_names_its_parts_where_one_comparison_is_needed() -> None:
    with pytest.raises(
        ValueError,
        match=r"preset 'full' runs the presets full-lift, hidden-side-full, hidden-full, one comparison each",
    ):
        presets.preset("full")
    # train, evaluate and render pick the part that trains the learner they are given.
    assert presets.preset_for("full", "rl2").name == "full-lift"
    assert presets.preset_for("full", "hidden-rl2").name == "hidden-full"
    assert presets.preset_for("quick", "rl2").name == "quick"
    with pytest.raises(ValueError, match=r"and none of them trains learner 'oracle': name with --preset a preset"):
        presets.preset_for("full", "oracle")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"parts": ["full-lift", "nope"]}, r"parts must be a list of presets of one comparison \(.*full-lift.*\); got"),
        ({"parts": []}, "parts must be a list of presets of one comparison"),
        ({"parts": ["full-lift"], "seeds": [0]}, r"is a suite: it holds only `parts`, not \['seeds'\]"),
    ],
    ids=["unknown-part", "no-part", "other-keys"],
)
def test_a_bad_suite_is_named(monkeypatch, values: dict, message: str) -> None:
    real = presets.read_config
    monkeypatch.setattr(presets, "read_config", lambda name: values if name == "presets/full.yaml" else real(name))
    with pytest.raises(ValueError, match=message):
        presets.suite("full")


PRESET_KEYS = {"seeds", "learners", "train_steps", "protocol", "video_tasks", "stop_at_success", "algo_overrides",
               "checkpoint_every", "families"}  # fmt: skip
PROTOCOL_KEYS = {"k", "eval_episodes", "heldout_tasks", "train_tasks", "variation", "split", "position_layout",
                 "task_seed", "own_k", "validation_tasks", "matrix_tasks"}  # fmt: skip


def _allowed(message: str) -> set[str]:
    """The names after 'allowed: ' in an error message."""
    assert "allowed: " in message, message
    return set(message.split("allowed: ", 1)[1].strip().split(", "))


def test_unknown_preset_or_protocol_keys_are_refused_naming_the_allowed_keys(monkeypatch) -> None:
    tiny = _yaml("presets/tiny.yaml")
    assert set(tiny) <= PRESET_KEYS and set(tiny["protocol"]) <= PROTOCOL_KEYS

    def preset_file(values: dict) -> None:  # a preset 'edited' whose file holds ``values``
        monkeypatch.setattr(presets, "preset_names", lambda: ["edited"])
        monkeypatch.setattr(presets, "read_config", lambda name: values)

    preset_file(tiny)
    assert presets.preset("edited").protocol == EvalProtocol(**tiny["protocol"])  # the file itself loads

    # Keys of the old presets, before the protocol was one value.
    preset_file({**tiny, "k_episodes": 1})
    with pytest.raises(ValueError, match=r"preset 'edited': unknown keys \['k_episodes'\]") as error:
        presets.preset("edited")
    assert _allowed(str(error.value)) == PRESET_KEYS

    preset_file({**tiny, "protocol": {**tiny["protocol"], "episodes": 2}})
    with pytest.raises(ValueError, match=r"preset 'edited': unknown protocol keys \['episodes'\]") as error:
        presets.preset("edited")
    assert _allowed(str(error.value)) == PROTOCOL_KEYS

    # And values the protocol cannot have name their field.
    preset_file({**tiny, "protocol": {**tiny["protocol"], "split": "sideways"}})
    with pytest.raises(ValueError, match="split 'sideways'") as error:
        presets.preset("edited")
    # The lift family's splits, the generalisation matrix's one-factor cells among them.
    assert _allowed(str(error.value)) == {"train", "heldout", "new-color", "new-position"}
    preset_file({**tiny, "protocol": {**tiny["protocol"], "eval_episodes": 0}})
    with pytest.raises(ValueError, match="eval_episodes must be an integer >= 1"):
        presets.preset("edited")
    for every in (0, 1.5, True, "256"):
        preset_file({**tiny, "checkpoint_every": every})
        with pytest.raises(ValueError, match=r"checkpoint_every must be a whole number of env steps >= 1; got"):
            presets.preset("edited")


@pytest.mark.parametrize("stop", [0, 0.0, -0.5, 1.01, 2, "0.9", True, [0.9], float("nan")])
def test_preset_refuses_a_stop_at_success_that_is_not_a_success_rate(monkeypatch, stop) -> None:
    tiny = _yaml("presets/tiny.yaml")
    monkeypatch.setattr(presets, "preset_names", lambda: ["edited"])
    monkeypatch.setattr(presets, "read_config", lambda name: {**tiny, "stop_at_success": stop})
    with pytest.raises(ValueError, match=r"preset 'edited': stop_at_success must be a success rate in \(0, 1\]"):
        presets.preset("edited")


@pytest.mark.parametrize("stop", [None, 0.9, 1, 1.0, 0.05])
def test_preset_takes_a_stop_at_success_in_zero_one(monkeypatch, tmp_path: Path, stop) -> None:
    tiny = _yaml("presets/tiny.yaml")
    monkeypatch.setattr(presets, "preset_names", lambda: ["edited"])
    monkeypatch.setattr(presets, "read_config", lambda name: {**tiny, "stop_at_success": stop})
    chosen = presets.preset("edited")
    assert chosen.stop_at_success == stop
    # Every training job of the run carries it (a job is done on reaching it: test above).
    jobs = train_jobs(chosen, RunLayout(tmp_path))
    assert jobs and all(job.stop_at_success == stop for job in jobs)
    # Left out, the whole budget.
    monkeypatch.setattr(presets, "read_config", lambda name: tiny)
    assert "stop_at_success" not in tiny and presets.preset("edited").stop_at_success is None


def test_preset_train_steps_by_learner_name_win_over_its_kind(tmp_path: Path) -> None:
    learners = ("color-specialist", "position-specialist", "rl2", "random")
    chosen = Preset(name="x", seeds=(0, 1), learners=learners, protocol=EvalProtocol(),
                    train_steps={"ppo": 1000, "position-specialist": 300, "rl2": 1600})  # fmt: skip
    steps = {name: chosen.steps_for(registry.learner(name)) for name in learners[:3]}
    assert steps == {"color-specialist": 1000, "position-specialist": 300, "rl2": 1600}
    # The training jobs get the same budgets, for each seed; the untrained random learner none.
    jobs = train_jobs(chosen, RunLayout(tmp_path))
    assert sorted((job.learner.name, job.seed, job.steps) for job in jobs) == sorted(
        (name, seed, budget) for name, budget in steps.items() for seed in (0, 1)
    )
    # A learner with neither its name nor its kind in train_steps: both are named.
    without_kind = Preset(name="x", seeds=(0,), learners=("reptile",), protocol=EvalProtocol(),
                          train_steps={"ppo": 1000, "reptile-other": 5})  # fmt: skip
    with pytest.raises(ValueError, match=r"preset 'x' has no train_steps for learner 'reptile' or its kind 'reptile'"):
        without_kind.steps_for(registry.learner("reptile"))
    with pytest.raises(ValueError, match="'multi-task' or its kind 'ppo'"):
        Preset(name="x", seeds=(0,), learners=("multi-task",), protocol=EvalProtocol(),
               train_steps={"color-specialist": 10}).steps_for(registry.learner("multi-task"))  # fmt: skip


def test_learner_spec_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="variation") as error:
        LearnerSpec(name="x", kind="ppo", variation="sideways", role="single-task", hyperparameters="ppo")
    assert "color-or-position" in str(error.value) and "sideways" in str(error.value)
    with pytest.raises(ValueError, match="kind"):
        LearnerSpec(name="x", kind="dqn", variation="color", role="single-task", hyperparameters="ppo")
    with pytest.raises(ValueError, match="role"):
        LearnerSpec(name="x", kind="ppo", variation="color", role="boss", hyperparameters="ppo")
    assert LearnerSpec(name="x", kind="ppo", variation="color", role="single-task", hyperparameters="ppo").trained
    assert not LearnerSpec(name="x", kind="expert", variation="both", role="reference").trained
    with pytest.raises(ValueError, match="name its hyperparameters"):  # a trained kind needs a set
        LearnerSpec(name="x", kind="ppo", variation="color", role="single-task")


def test_presets_load_and_name_their_learners() -> None:
    names = presets.preset_names()
    assert {"tiny", "quick", "full", "full-lift", "hidden-full"} <= set(names)
    suites = [name for name in names if presets.suite(name) is not None]
    assert suites == ["full"] and presets.suite("full").parts == ("full-lift", "hidden-side-full", "hidden-full")
    for name in set(names) - set(suites):
        chosen = presets.preset(name)
        assert isinstance(chosen, Preset) and isinstance(chosen.protocol, EvalProtocol)
        assert chosen.seeds and chosen.learners
        written = _yaml(f"presets/{name}.yaml")["protocol"]["k"]  # the file, read without the registry
        assert chosen.protocol.k == tuple(written) and chosen.protocol.headline_k == max(written)
        for learner_name in chosen.learners:
            spec = registry.learner(learner_name)
            if spec.trained:
                assert chosen.steps_for(spec) > 0


# ------------------------------------------------------------ trial wrapper


def test_trial_wrapper_chains_episodes_of_one_task() -> None:
    spec = registry.learner("rl2")
    train_tasks = EnvSpec(spec.variation, "train", "interleaved")
    env = env_factory(spec, train_tasks, trial_episodes=2)()
    trial = env
    while not isinstance(trial, Trial):
        trial = trial.env
    assert trial.episodes == 2
    for key in ("prev_action", "prev_reward", "prev_done"):
        assert key in env.observation_space.spaces

    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs["prev_action"], np.zeros(5, np.float32))
    assert obs["prev_reward"][0] == 0.0 and obs["prev_done"][0] == 0.0
    task = info["task"]
    rng = np.random.default_rng(0)
    steps, boundaries = 0, []
    while True:
        action = rng.uniform(-1.5, 1.5, 5).astype(np.float32)  # out of range: prev_action is clipped
        obs, reward, terminated, truncated, info = env.step(action)
        steps += 1
        np.testing.assert_array_equal(obs["prev_action"], np.clip(action, -1, 1))
        assert obs["prev_reward"][0] == np.float32(reward)
        if obs["prev_done"][0] == 1.0:
            boundaries.append(steps)
        if terminated or truncated:
            break
        assert env.unwrapped.task == task, "the task changed inside a trial"
        assert "trial_successes" not in info
    assert steps == 2 * MAX_EPISODE_STEPS, "a 2-episode trial of 100-step episodes"
    assert boundaries == [MAX_EPISODE_STEPS, 2 * MAX_EPISODE_STEPS]
    assert truncated and not terminated
    assert len(info["trial_successes"]) == 2 and all(isinstance(s, bool) for s in info["trial_successes"])
    env.close()

    # The first observation of the 2nd episode is a fresh start of the same task.
    env = env_factory(spec, train_tasks, trial_episodes=3)()
    obs, info = env.reset(seed=3)
    for _ in range(MAX_EPISODE_STEPS):
        obs, _, terminated, truncated, info = env.step(np.zeros(5, np.float32))
    assert not (terminated or truncated) and obs["prev_done"][0] == 1.0
    assert np.linalg.norm(obs["gripper_pos"][:2]) < 0.02 and abs(obs["gripper_pos"][2] - 0.15) < 0.02
    env.close()

    with pytest.raises(ValueError):
        Trial(env_factory(registry.learner("multi-task"), EnvSpec("color-or-position", "train", "interleaved"))(), 0)


def test_fixed_task_pins_every_reset(heldout_tasks) -> None:
    env = env_factory(registry.learner("position-specialist"), HELDOUT, task=heldout_tasks[0])()
    pinned = env
    while not isinstance(pinned, FixedTask):
        pinned = pinned.env
    assert pinned.task == heldout_tasks[0]
    for seed in range(3):
        _, info = env.reset(seed=seed)
        assert info["task"] == heldout_tasks[0]
    env.close()
    assert task_distribution("both", "heldout").contains(heldout_tasks[0])


# name -> env steps of one rollout (Reptile: one meta-iteration); budgets of 1, then 2 of them.
@pytest.mark.parametrize("name, rollout", [("position-specialist", N_ENVS * PPO_TINY["n_steps"]),
                                           ("reptile", META_ITERATION)])  # fmt: skip
def test_a_larger_budget_continues_a_finished_learner(tmp_path: Path, name: str, rollout: int) -> None:
    spec, folder = registry.learner(name), tmp_path / name
    first = train(_run(spec, 0, rollout, folder, PPO_TINY))
    assert first["steps"] == rollout
    more: list[int] = []
    second = train(_run(spec, 0, 2 * rollout, folder, PPO_TINY, on_rollout=more.append))
    assert more == [2 * rollout], "restarted instead of continuing"
    assert second["steps"] == 2 * rollout and storage.trained_steps(LearnerFiles(folder)) == second["steps"]
    steps = [row["steps"] for row in read_curve(LearnerFiles(folder).curve)]
    assert steps == list(range(rollout, second["steps"] + 1, rollout))


def _scripted_checks(monkeypatch, successes: list[float]) -> None:
    """A policy that learns in a few hundred steps is not to be had, so here the training
    curve reads as if every rollout had succeeded (checks begin once 3 rows exist, the real
    precondition), a check is due before every rollout, and each check's deterministic
    success is the next of ``successes``."""
    real = stopping.read_curve
    monkeypatch.setattr(stopping, "read_curve", lambda path: [{**row, "success_rate": 1.0} for row in real(path)])
    monkeypatch.setattr(stopping, "CHECK_EVERY", 1)
    values = iter(successes)
    monkeypatch.setattr(stopping.SuccessCheck, "success", lambda self, model, normalize=None: next(values))


# name -> env steps of one rollout (Reptile: one meta-iteration); a budget of 6 of them.
@pytest.mark.parametrize("name, rollout", [("position-specialist", N_ENVS * PPO_TINY["n_steps"]),
                                           ("reptile", META_ITERATION)])  # fmt: skip
def test_training_stops_at_success_and_resumes_without_it(monkeypatch, tmp_path: Path, name: str, rollout: int) -> None:
    _scripted_checks(monkeypatch, [0.85, 0.95])
    spec, folder, budget = registry.learner(name), tmp_path / name, 6 * rollout
    files = LearnerFiles(folder)
    seen: list[int] = []
    meta = train(_run(spec, 0, budget, folder, PPO_TINY, stop_at_success=0.9, on_rollout=seen.append))
    # The first check, before the 4th rollout, finds 0.85 < 0.9; the second, before the 5th, 0.95.
    assert seen == [rollout, 2 * rollout, 3 * rollout, 4 * rollout]
    curve = read_curve(files.curve)
    assert [row["steps"] for row in curve] == seen
    assert meta["stopped_at_success"] == 0.9
    assert meta["success_checks"] == [[3 * rollout, 0.85], [4 * rollout, 0.95]]
    assert meta["steps"] == curve[-1]["steps"] == 4 * rollout
    assert read_json(files.meta) == meta and not files.checkpoint.folder.exists()
    # The saved model counts the steps it trained on (PPO's learn() took one more env step, to stop).
    assert storage.load_model(files, spec)[0].num_timesteps == 4 * rollout

    # Complete for this budget with this threshold only; a smaller budget it reached is complete anyway.
    assert storage.is_trained_for(files, budget, 0.9)
    assert not storage.is_trained_for(files, budget, None) and not storage.is_trained_for(files, budget, 0.8)
    assert storage.is_trained_for(files, 4 * rollout, None)
    job = TrainRun(spec, 0, budget, str(folder), 2, "interleaved", PPO_TINY, 0.9)
    assert job.is_done() and job.done_steps() == budget
    assert not TrainRun(spec, 0, budget, str(folder), 2, "interleaved", PPO_TINY).is_done()

    # The same threshold again: nothing to train, nothing rewritten.
    before = _mtimes(folder)

    def no_training(steps: int) -> None:
        raise AssertionError("train() trained again a learner that had stopped at its threshold")

    assert train(_run(spec, 0, budget, folder, PPO_TINY, stop_at_success=0.9, on_rollout=no_training)) == meta
    assert _mtimes(folder) == before

    # Without a threshold, the whole budget: training continues from where it stopped.
    more: list[int] = []
    full = train(_run(spec, 0, budget, folder, PPO_TINY, on_rollout=more.append))
    assert more == [5 * rollout, 6 * rollout]
    assert full["steps"] == budget and full["stopped_at_success"] is None and "success_checks" not in full
    assert [row["steps"] for row in read_curve(files.curve)] == [rollout * (i + 1) for i in range(6)]


@pytest.mark.parametrize("name", ["position-specialist", "rl2"])
def test_success_check_plays_the_same_deterministic_episodes_each_time(trained, name: str, monkeypatch) -> None:
    monkeypatch.setattr(stopping, "CHECK_ROUNDS", 3)
    folder = trained[name][0]
    spec, files = registry.learner(name), LearnerFiles(folder)
    model, normalize = storage.load_model(files, spec)
    tasks = EnvSpec(spec.variation, "train", "interleaved")
    check = stopping.SuccessCheck(spec, tasks, 3, 0.0, files)  # threshold 0: every round is played
    rounds: list[list[str]] = []  # the tasks of each round's episodes
    real = stopping.evaluate_policy

    def recording(*args, **kwargs):
        assert kwargs["n_eval_episodes"] == stopping.CHECK_EPISODES
        played, record = [], kwargs["callback"]

        def both(local: dict, globals_: dict) -> None:
            if local["done"]:
                played.append(repr(local["info"]["task"]))
            record(local, globals_)

        rounds.append(played)
        return real(*args, **{**kwargs, "callback": both})

    monkeypatch.setattr(stopping, "evaluate_policy", recording)
    first, second = check.success(model, normalize), check.success(model, normalize)
    check.close()
    # Each check plays 3 rounds of other episodes, and the second check the same ones again:
    # the same tasks, starts and actions, so the same fraction of 30 episodes.
    assert len(rounds) == 6 and all(len(played) == stopping.CHECK_EPISODES for played in rounds)
    assert rounds[3:] == rounds[:3]
    assert len({task for played in rounds[:3] for task in played}) == 3 * stopping.CHECK_EPISODES
    n = 3 * stopping.CHECK_EPISODES
    assert first == second and first * n == round(first * n)
    assert 0.0 <= first <= 1.0


@pytest.mark.parametrize(
    ("threshold", "failures", "rounds_played", "success"),
    [
        # 0.95 of 80 episodes allows 4 failures: one failure in each of rounds 0-3 still passes.
        (0.95, {0: 1, 1: 1, 2: 1, 3: 1}, 8, 76 / 80),
        # the fifth failure ends the check at its round
        (0.95, {0: 2, 2: 3}, 3, 25 / 30),
        (0.95, {0: 5}, 1, 5 / 10),
        (1.0, {5: 1}, 6, 59 / 60),
        (1.0, {}, 8, 1.0),
    ],
)
def test_success_check_ends_once_the_failures_exceed_what_the_threshold_allows(
    tmp_path: Path, threshold: float, failures: dict, rounds_played: int, success: float
) -> None:
    assert (stopping.CHECK_ROUNDS, stopping.CHECK_EPISODES) == (8, 10)  # the cases above assume 80 episodes
    spec = registry.learner("position-specialist")
    tasks = EnvSpec(spec.variation, "train", "interleaved")
    check = stopping.SuccessCheck(spec, tasks, 0, threshold, LearnerFiles(tmp_path))
    rounds: list[int] = []

    def play(model, normalize, round_):
        rounds.append(round_)
        fail = failures.get(round_, 0)
        return [False] * fail + [True] * (stopping.CHECK_EPISODES - fail)

    check._play = play
    assert check.success(None, normalize=object()) == pytest.approx(success)
    assert rounds == list(range(rounds_played))
    assert (success >= threshold) == (sum(failures.values()) <= stopping.allowed_failures(threshold))


def test_allowed_failures_of_a_check() -> None:
    n = stopping.CHECK_ROUNDS * stopping.CHECK_EPISODES
    assert stopping.allowed_failures(1.0) == 0
    assert stopping.allowed_failures(0.0) == n
    for threshold in (0.5, 0.9, 0.95, 0.975, 0.99):
        allowed = stopping.allowed_failures(threshold)
        assert (n - allowed) / n >= threshold > (n - allowed - 1) / n


def test_a_folder_of_other_hyperparameters_or_another_learner_is_refused(tmp_path: Path) -> None:
    spec, folder = registry.learner("position-specialist"), tmp_path / "learner"
    train(_run(spec, 0, 256, folder, PPO_TINY))
    before = _mtimes(folder)
    other = {**PPO_TINY, "n_epochs": 2}
    with pytest.raises(ValueError, match=r"meta\.json was trained with algo_overrides .*n_epochs"):
        train(_run(spec, 0, 512, folder, other))
    with pytest.raises(ValueError, match="holds learner 'position-specialist', not 'color-specialist'"):
        train(_run(registry.learner("color-specialist"), 0, 512, folder, PPO_TINY))
    assert _mtimes(folder) == before, "a refused call must leave the saved learner alone"

    # A checkpoint records its configuration too: resuming it with another is refused.
    interrupted = tmp_path / "interrupted"

    def interrupt(steps: int) -> None:
        if steps >= 512:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_run(spec, 0, 1024, interrupted, PPO_TINY, checkpoint_every=1, on_rollout=interrupt))
    state = read_json(LearnerFiles(interrupted).checkpoint.state)
    assert state["learner"] == spec.name and state["algo_overrides"] == PPO_TINY
    with pytest.raises(ValueError, match=r"state\.json was trained with algo_overrides"):
        train(_run(spec, 0, 1024, interrupted, other))


def test_reptile_records_its_configuration_in_checkpoints_and_meta(tmp_path: Path) -> None:
    spec, folder = registry.learner("reptile"), tmp_path / "reptile"

    def interrupt(steps: int) -> None:
        if steps >= 2 * META_ITERATION:  # at the end of the 2nd meta-iteration: the 1st one's end is checkpointed
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_run(spec, 0, 2 * META_ITERATION, folder, PPO_TINY, checkpoint_every=1, on_rollout=interrupt))
    state = read_json(LearnerFiles(folder).checkpoint.state)
    assert state["steps"] == META_ITERATION
    assert state["learner"] == "reptile" and state["algo_overrides"] == PPO_TINY
    assert state["hyperparameters"] == registry.hyperparameters("reptile")
    with pytest.raises(ValueError, match=r"state\.json was trained with algo_overrides"):
        train(_run(spec, 0, 2 * META_ITERATION, folder, {**PPO_TINY, "n_epochs": 2}))
    meta = train(_run(spec, 0, 2 * META_ITERATION, folder, PPO_TINY))
    assert meta["algo_overrides"] == PPO_TINY
    # The meta-iterations run and the inner loop's episodes (k = 1), counted across the resume.
    assert (meta["steps"], meta["meta_iterations"], meta["inner_episodes"]) == (2 * META_ITERATION, 2, 1)


def _recording_updates(monkeypatch) -> list[dict]:
    """Every PPO update (``PPO.train``) made from now on: its samples, epochs, minibatch,
    learning rate and whether its Adam started fresh (no state yet)."""
    records: list[dict] = []
    real = PPO.train

    def train_recorded(self) -> None:
        buffer = self.rollout_buffer
        records.append({
            "samples": buffer.buffer_size * buffer.n_envs, "n_epochs": self.n_epochs, "batch_size": self.batch_size,
            "learning_rate": self.policy.optimizer.param_groups[0]["lr"], "fresh_adam": not self.policy.optimizer.state,
        })  # fmt: skip
        real(self)

    monkeypatch.setattr(PPO, "train", train_recorded)
    return records


@pytest.mark.parametrize("name, iteration", [("reptile", META_ITERATION), ("fomaml", FOMAML_ITERATION)])
def test_meta_learner_adapts_at_test_time_with_exactly_its_meta_trained_inner_loop(
    monkeypatch, trained, heldout_tasks, tmp_path: Path, name: str, iteration: int
) -> None:
    """Reptile's and first-order MAML's test-time adaptation is their inner loop: the same
    update on as many samples (k whole episodes), with the same epochs, minibatch and learning
    rate, from a fresh Adam."""
    spec = registry.learner(name)
    records = _recording_updates(monkeypatch)
    train(_run(spec, 0, iteration, tmp_path / name, PPO_TINY))  # one meta-iteration, k = 1
    inner = list(records)
    tasks_per_iteration = registry.hyperparameters(name)["meta_batch_tasks"]
    assert len(inner) == tasks_per_iteration  # one inner loop per task of the meta-batch

    records.clear()
    agent = load_agent(spec, LearnerFiles(trained[name][0]), HELDOUT)
    agent.adapt(heldout_tasks[0], 1, seed=7)
    assert records == [inner[0]]
    finetune = registry.hyperparameters("finetune")
    assert inner[0] == {"samples": MAX_EPISODE_STEPS, "n_epochs": finetune["n_epochs"],
                        "batch_size": finetune["batch_size"], "learning_rate": finetune["learning_rate"],
                        "fresh_adam": True}  # fmt: skip
    assert all(record == inner[0] for record in inner)


def _outer_gradients(monkeypatch, model: PPO, step) -> list[torch.Tensor]:
    """The gradients that the policy's optimiser is given by ``step()``, which makes no step."""
    seen: list[list[torch.Tensor]] = []
    record = lambda *args, **kwargs: seen.append([p.grad.clone() for p in model.policy.parameters()])
    monkeypatch.setattr(model.policy.optimizer, "step", record)
    step()
    assert len(seen) == 1, "one minibatch of one epoch: one optimiser step"
    return seen[0]


@pytest.fixture
def fomaml_episodes(trained):
    """A tiny first-order MAML learner, and one episode of a training task played by it."""
    spec = registry.learner("fomaml")
    model, normalize = storage.load_model(LearnerFiles(trained["fomaml"][0]), spec)
    tasks = EnvSpec("color-or-position", "train", "interleaved")
    inner = FineTuner(EvalEnvs(spec, tasks), normalize, None, PPO_TINY)
    weights = _weights(model.policy)
    tuner, buffer = inner.collect(weights, sample_tasks(1, 3, tasks), 1, [5])
    return tuner, buffer, weights


def test_fomaml_outer_loss_is_ppo_loss(monkeypatch, fomaml_episodes) -> None:
    """With no weight offset, the outer update's gradient is stable-baselines3's PPO gradient on
    the same episodes (one minibatch: clipped surrogate, value and entropy terms, clipping)."""
    tuner, buffer, _ = fomaml_episodes
    tuner.ent_coef, tuner.n_epochs, tuner.batch_size = 0.01, 1, buffer.buffer_size
    zero = {name: torch.zeros_like(p) for name, p in tuner.policy.named_parameters()}
    ours = _outer_gradients(monkeypatch, tuner, lambda: fomaml.outer_update(
        tuner, [fomaml._Episodes(buffer, 0, zero)], 1, 1, torch.Generator().manual_seed(0)))  # fmt: skip
    sb3 = _outer_gradients(monkeypatch, tuner, tuner.train)
    assert any(g.abs().sum() > 0 for g in ours)
    for a, b in zip(ours, sb3):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_fomaml_outer_gradient_is_taken_at_the_adapted_weights(monkeypatch, fomaml_episodes) -> None:
    """First-order MAML: the gradient given to the initialisation theta for a task adapted to
    theta + delta is the gradient of the task's loss at theta + delta."""
    tuner, buffer, theta = fomaml_episodes
    generator = torch.Generator().manual_seed(1)
    delta = {name: 0.05 * torch.randn(p.shape, generator=generator) for name, p in tuner.policy.named_parameters()}
    zero = {name: torch.zeros_like(value) for name, value in delta.items()}
    update = lambda offset: lambda: fomaml.outer_update(
        tuner, [fomaml._Episodes(buffer, 0, offset)], 1, 1, torch.Generator().manual_seed(0))  # fmt: skip
    at_theta_with_delta = _outer_gradients(monkeypatch, tuner, update(delta))
    tuner.policy.load_state_dict({key: value + delta.get(key, 0) for key, value in theta.items()})
    at_adapted = _outer_gradients(monkeypatch, tuner, update(zero))
    tuner.policy.load_state_dict(theta)
    at_theta = _outer_gradients(monkeypatch, tuner, update(zero))
    for a, b in zip(at_theta_with_delta, at_adapted):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert not all(torch.allclose(a, b) for a, b in zip(at_theta_with_delta, at_theta)), "the offset changed nothing"


def test_fomaml_keeps_its_optimiser_across_meta_iterations(trained) -> None:
    """The outer loop's Adam persists: after 2 meta-iterations of 10 epochs x 2 minibatches the
    saved optimiser has made 40 steps (a fresh one per iteration would have made 20)."""
    model, _ = storage.load_model(LearnerFiles(trained["fomaml"][0]), registry.learner("fomaml"))
    outer = registry.hyperparameters("fomaml")["outer"]
    state = model.policy.optimizer.state_dict()["state"]
    assert state, "the saved optimiser has no state"
    assert {int(s["step"]) for s in state.values()} == {2 * outer["n_epochs"] * outer["minibatches"]}


@pytest.mark.parametrize("zero_shot_term", [True, False])
def test_fomaml_outer_loss_takes_the_initialisations_own_episodes_when_told(
    monkeypatch, tmp_path: Path, zero_shot_term: bool
) -> None:
    """Each meta-iteration's outer update gets every task's episode by its adapted policy, at a
    nonzero offset; with ``zero_shot_term`` also the inner loop's episodes, at offset zero."""
    spec = registry.learner("fomaml")
    hp = registry.hyperparameters("fomaml")
    told = {**hp, "zero_shot_term": zero_shot_term}
    monkeypatch.setattr(fomaml, "hyperparameters", lambda name: told if name == "fomaml" else hyperparameters(name))
    seen: list[list] = []
    monkeypatch.setattr(fomaml, "outer_update", lambda model, groups, *args: seen.append(groups))
    train(_run(spec, 0, FOMAML_ITERATION, tmp_path / "fomaml", PPO_TINY))
    assert len(seen) == 1
    tasks = hp["meta_batch_tasks"]
    zero = [all(not d.any() for d in group.delta.values()) for group in seen[0]]
    assert zero == [True] * tasks * zero_shot_term + [False] * tasks
    assert all(group.size == MAX_EPISODE_STEPS for group in seen[0])
