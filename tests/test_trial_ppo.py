"""Tests of TrialPPO, RL^2's recurrent PPO over fixed-length trials (``learners.algorithms.trial_ppo``).

A stub env with episodes of 10 steps stands in for the banana env, so each test takes well
under a second: trials of 2 episodes (``Trial(PadEpisode(...))``, as ``envs.env_factory``
builds them for an in-context learner) last 20 steps, and a first episode can be made to
terminate early, as when the banana falls off the table. The banana env itself meets
TrialPPO in test_agents.py (the rl2 learner).
"""

from __future__ import annotations

import copy
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv

from banana_grasp.agents.learners.algorithms.trial_ppo import TrialBatch, TrialPPO
from banana_grasp.agents.learners.envs import PadEpisode
from banana_grasp.envs import Trial

from timeouts import scaled

LENGTH = 10  # steps per episode
EPISODES = 2  # episodes per trial
TRIAL = EPISODES * LENGTH  # TrialPPO's n_steps
TINY_POLICY = {"hidden_size": 8, "net_arch": [16]}


class Stub(gym.Env):
    """Dict observation: the step in the episode (over ``LENGTH``) and two noise features;
    reward 1 per step. The ``i``-th episode since construction terminates at step
    ``ends[i % len(ends)]`` (None: it runs into the time limit). Refuses a step after
    termination, as an env in an absorbing state has nothing to simulate."""

    observation_space = spaces.Dict(
        {"t": spaces.Box(0.0, 1.0, (1,), np.float32), "noise": spaces.Box(-1.0, 1.0, (2,), np.float32)}
    )
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, ends: tuple[int | None, ...] = (None,)) -> None:
        self.ends, self.episode, self.steps, self.over = ends, -1, 0, False

    def _obs(self) -> dict:
        noise = self.np_random.uniform(-1.0, 1.0, 2).astype(np.float32)
        return {"t": np.array([self.steps / LENGTH], np.float32), "noise": noise}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.steps, self.over = self.episode + 1, 0, False
        return self._obs(), {"task": 0}

    def step(self, action):
        assert not self.over, "stepped after termination"
        self.steps += 1
        end = self.ends[self.episode % len(self.ends)]
        self.over = end is not None and self.steps >= end
        return self._obs(), 1.0, self.over, False, {"is_success": False}


def _trial_env(ends: tuple[int | None, ...] = (None,)) -> gym.Env:
    """Trials as env_factory makes them for an in-context learner: padded episodes, chained."""
    return Trial(PadEpisode(TimeLimit(Stub(ends), LENGTH), LENGTH), EPISODES)


def _model(n_envs: int = 4, ends: list[tuple] | None = None, **kwargs) -> TrialPPO:
    ends = ends or [(None,)] * n_envs
    venv = DummyVecEnv([lambda e=e: _trial_env(e) for e in ends])
    settings = {"n_steps": TRIAL, "minibatch_trials": 2, "n_epochs": 1, "policy_kwargs": TINY_POLICY, "seed": 0}
    return TrialPPO("LSTMPolicy", venv, **{**settings, **kwargs})


def _collect(model: TrialPPO) -> TrialBatch:
    """One rollout, as learn() collects it."""
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=None)
    assert model.collect_rollouts(model.env, callback, None, model.n_steps)
    return model.rollout_buffer


def _features(model: TrialPPO) -> int:
    """The flattened observation's size, from the env's observation space."""
    return sum(int(np.prod(space.shape)) for space in model.observation_space.spaces.values())


# ---------------------------------------------------------------- trial length


@pytest.mark.parametrize(
    "n_steps, message",
    [
        # One step too many: the trial ends at step 20, before the rollout's last step.
        (TRIAL + 1, rf"n_steps={TRIAL + 1} steps, but env 0 ended its trial at step {TRIAL}:"),
        # One step too few: the rollout's last step is not the trial's.
        (TRIAL - 1, rf"n_steps={TRIAL - 1} steps, but env 0 did not end its trial at step {TRIAL - 1}:"),
        # One episode's length: the trial's first episode is not the end of the trial.
        (LENGTH, rf"n_steps={LENGTH} steps, but env 0 did not end its trial at step {LENGTH}:"),
    ],
)
def test_a_trial_that_does_not_last_n_steps_is_an_error(n_steps: int, message: str) -> None:
    model = _model(n_steps=n_steps)
    with pytest.raises(RuntimeError, match=message):
        model.learn(n_steps * model.n_envs)


def test_a_trial_that_lasts_n_steps_trains_and_a_rollout_must_start_a_trial() -> None:
    model = _model()
    model.learn(2 * TRIAL * model.n_envs)  # two rollouts: the second starts where the first ended
    assert model.num_timesteps == 2 * TRIAL * model.n_envs
    model._last_episode_starts = np.zeros(model.n_envs, bool)  # as if mid-trial
    with pytest.raises(RuntimeError, match="must begin where every env begins a trial"):
        model.collect_rollouts(model.env, model._setup_learn(1, None, reset_num_timesteps=False)[1], None, TRIAL)


@pytest.mark.parametrize("n_envs, minibatch_trials", [(3, 2), (4, 3), (2, 4)])
def test_minibatch_trials_must_divide_the_envs(n_envs: int, minibatch_trials: int) -> None:
    with pytest.raises(ValueError, match=rf"minibatch_trials={minibatch_trials} .*number of envs \({n_envs}\)"):
        _model(n_envs=n_envs, minibatch_trials=minibatch_trials)
    _model(n_envs=n_envs, minibatch_trials=1)  # 1 divides any number


# --------------------------------------------------------------- padded steps


def test_padded_steps_are_not_live_in_the_batch() -> None:
    # Env 0's first episode terminates at step 3: PadEpisode holds its last state for the 7
    # steps left (info["padded_steps"] 1..7), then its second episode runs all 10 steps.
    # Env 1's episodes end at steps 10 and 6: its last 4 steps are padding. Env 2 never ends early.
    model = _model(n_envs=3, ends=[(3, None), (None, 6), (None,)], minibatch_trials=1)
    batch = _collect(model)
    live = batch.live.numpy()
    assert live.shape == (TRIAL, 3) and live.dtype == bool
    expected = np.ones((TRIAL, 3), bool)
    expected[3:LENGTH, 0] = False  # steps 4-10 of the trial (indices 3-9)
    expected[LENGTH + 6 :, 1] = False  # steps 17-20
    np.testing.assert_array_equal(live, expected)
    # A padded step repeats the terminal observation with reward 0; the terminal step is live.
    assert batch.rewards[2, 0] == 1.0 and batch.rewards[3:LENGTH, 0].eq(0.0).all()
    for column, shape in (("obs", (TRIAL, 3, _features(model))), ("actions", (TRIAL, 3, 1)), ("values", (TRIAL, 3))):
        assert tuple(getattr(batch, column).shape) == shape, column
    # Its values still enter the returns: GAE over every step, the trial's end terminal.
    assert batch.returns is not None and torch.isfinite(batch.returns).all()


def _update(model: TrialPPO, batch: TrialBatch, state: tuple[dict, dict]) -> dict[str, torch.Tensor]:
    """The weights after one train() on ``batch`` from the weights and optimiser in ``state``,
    its minibatch order seeded."""
    model.policy.load_state_dict(state[0])
    model.policy.optimizer.load_state_dict(state[1])
    model.rollout_buffer = batch
    torch.manual_seed(0)
    model.train()
    return {key: value.detach().clone() for key, value in model.policy.state_dict().items()}


def test_padded_steps_carry_no_policy_gradient() -> None:
    model = _model(n_envs=2, ends=[(3, None), (None,)], minibatch_trials=1, n_epochs=2)
    batch = _collect(model)
    state = copy.deepcopy((model.policy.state_dict(), model.policy.optimizer.state_dict()))
    reference = _update(model, batch, state)
    assert any(not torch.equal(reference[key], state[0][key]) for key in reference), "train() changed no weight"

    def altered(steps: slice) -> TrialBatch:
        """The batch with other actions and sampling log-probabilities on env 0's ``steps``."""
        actions, log_probs = batch.actions.clone(), batch.log_probs.clone()
        actions[steps, 0] += 0.5
        log_probs[steps, 0] -= 3.0
        return TrialBatch(batch.obs, actions, log_probs, batch.values, batch.rewards, batch.live,
                          batch.advantages, batch.returns)  # fmt: skip

    # On the padded steps (4-10 of env 0): the same update, to the bit.
    padded = _update(model, altered(slice(3, LENGTH)), state)
    assert all(torch.equal(padded[key], reference[key]) for key in reference)
    # On live steps the update differs: the comparison above can tell.
    live = _update(model, altered(slice(LENGTH, LENGTH + 7)), state)
    assert any(not torch.equal(live[key], reference[key]) for key in reference)


# -------------------------------------------------------------------- update


def test_the_update_makes_one_lstm_call_per_minibatch_of_whole_trials() -> None:
    n_envs, minibatch_trials, n_epochs = 4, 2, 3
    model = _model(n_envs=n_envs, minibatch_trials=minibatch_trials, n_epochs=n_epochs)
    _collect(model)
    inputs: list[tuple[int, ...]] = []
    hook = model.policy.lstm.register_forward_hook(lambda module, args, out: inputs.append(tuple(args[0].shape)))
    try:
        model.train()
    finally:
        hook.remove()
    # 3 epochs x (4 trials / 2 per minibatch) = 6 calls, each over whole trials: (20 steps, 2 trials, features).
    assert inputs == [(TRIAL, minibatch_trials, _features(model))] * (n_epochs * n_envs // minibatch_trials)


# ------------------------------------------------------------- memory, saving


def _observations(n_envs: int, steps: int) -> list[dict]:
    """``steps`` batched observations of ``n_envs`` trial envs under zero actions."""
    envs = [_trial_env() for _ in range(n_envs)]
    first = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
    batches = [first]
    for _ in range(steps - 1):
        batches.append([env.step(np.zeros(1, np.float32))[0] for env in envs])
    return [{key: np.stack([obs[key] for obs in batch]) for key in batch[0]} for batch in batches]


def _play(model: TrialPPO, observations: list[dict]) -> tuple[list[np.ndarray], np.ndarray]:
    """Deterministic actions over ``observations``, the memory carried from zero: actions, last memory."""
    state, start, actions = None, np.ones(len(observations[0]["t"]), bool), []
    for obs in observations:
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        actions.append(action)
        start = np.zeros_like(start)
    return actions, state


def test_save_and_load_give_the_same_actions_with_a_carried_memory(tmp_path: Path) -> None:
    model = _model()
    model.learn(TRIAL * model.n_envs)  # one rollout and one update: weights other than the initial ones
    observations = _observations(2, 15)
    actions, state = _play(model, observations)
    assert state.shape == (2, 1, 2, TINY_POLICY["hidden_size"])  # h and c, one layer, 2 envs
    assert np.abs(state).max() > 0.0

    model.save(tmp_path / "model.zip")
    loaded = TrialPPO.load(tmp_path / "model.zip", device="cpu")
    assert loaded.num_timesteps == TRIAL * model.n_envs and loaded.minibatch_trials == model.minibatch_trials
    assert loaded.policy.hidden_size == TINY_POLICY["hidden_size"] and loaded.policy.net_arch == [16]
    loaded_actions, loaded_state = _play(loaded, observations)
    for step, (a, b) in enumerate(zip(actions, loaded_actions)):
        np.testing.assert_array_equal(a, b, err_msg=f"step {step}")
    np.testing.assert_array_equal(loaded_state, state)


def test_predict_resets_the_memory_where_a_trial_starts() -> None:
    model = _model()
    observations = _observations(2, 8)
    _, state = _play(model, observations[:-1])  # a memory of 7 steps
    obs = observations[-1]
    fresh, fresh_state = model.predict(obs, state=None, deterministic=True)
    carried, carried_state = model.predict(obs, state=state, episode_start=np.zeros(2, bool), deterministic=True)
    assert not np.array_equal(fresh, carried), "the memory changes no action: nothing below can fail"
    # A trial starting in env 0 only: env 0 acts as from zero memory, env 1 remembers.
    mixed, mixed_state = model.predict(obs, state=state, episode_start=np.array([True, False]), deterministic=True)
    np.testing.assert_array_equal(mixed[0], fresh[0])
    np.testing.assert_array_equal(mixed[1], carried[1])
    np.testing.assert_array_equal(mixed_state[:, :, 0], fresh_state[:, :, 0])
    np.testing.assert_array_equal(mixed_state[:, :, 1], carried_state[:, :, 1])
    # Both starting: as state=None.
    both, _ = model.predict(obs, state=state, episode_start=np.ones(2, bool), deterministic=True)
    np.testing.assert_array_equal(both, fresh)


def test_bench_rl2_script_prints_speeds_and_their_ratios() -> None:
    """scripts/bench_rl2.py on one rollout per job: a row per algorithm, and ratio lines that
    are the ratios of the printed means (recomputed here)."""
    import re
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(repo / "scripts" / "bench_rl2.py"), "--steps", "1600"],
                            capture_output=True, text=True, timeout=scaled(300), check=False, cwd=repo)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    means = {}
    for line in result.stdout.splitlines():
        row = re.match(r"\| (.+?) \| ([0-9,]+), ([0-9,]+) \| ([0-9,]+) \|$", line)
        if row:
            first, second, mean = (float(row.group(i).replace(",", "")) for i in (2, 3, 4))
            assert first > 0 and second > 0 and abs(mean - (first + second) / 2) <= 1, line
            means[row.group(1)] = mean
    assert len(means) == 3, result.stdout
    trial = next(v for k, v in means.items() if k.startswith("RL^2, TrialPPO"))
    recurrent = next(v for k, v in means.items() if k.startswith("RL^2, sb3-contrib"))
    ppo = next(v for k, v in means.items() if k.startswith("PPO"))
    printed = dict(re.findall(r"^TrialPPO / (RecurrentPPO|PPO): ([0-9.]+)x", result.stdout, flags=re.MULTILINE))
    # The printed means are rounded to whole steps/s, the printed ratio to 0.01: the ratio of
    # the rounded means can be off by that much (more when a loaded machine runs slowly).
    for name, other in (("RecurrentPPO", recurrent), ("PPO", ppo)):
        ratio = trial / other
        rounding = ratio * (0.5 / trial + 0.5 / other) + 0.005
        assert float(printed[name]) == pytest.approx(ratio, abs=rounding + 1e-9), (name, result.stdout)
