"""Recurrent PPO over fixed-length trials: RL^2's algorithm, one LSTM call per minibatch.

A trial is ``k + 1`` episodes of one task, each padded to its full length
(``envs.PadEpisode``), so every trial lasts the same number of steps and one rollout is
exactly one trial per env. The memory is zero at a rollout's first step and never reset
inside it, so the update feeds whole trials through the LSTM in one ``torch.nn.LSTM`` call
per minibatch, with no Python loop over time steps (sb3-contrib's RecurrentPPO steps
through a sequence one step at a time whenever it holds an episode start: its issue #113).
A padded step (the absorbing state after the banana left the table) carries no policy
gradient and no entropy bonus; its value still enters the returns.

The rest is stable-baselines3's: ``OnPolicyAlgorithm.learn`` (callbacks, logger and
TensorBoard, progress bar), VecEnv and VecNormalize, ``save`` and ``load``. The update
follows CleanRL's single-file PPO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch import nn
from torch.distributions import Normal

from banana_grasp.agents.learners.policies.objects import BananaAttention


def mlp(n_in: int, widths: list[int], n_out: int, out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(n_in, width), nn.Tanh()]
        n_in = width
    layers.append(nn.Linear(n_in, n_out))
    for layer in layers:  # orthogonal initialisation, as stable-baselines3's PPO
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=out_gain if layer is layers[-1] else np.sqrt(2))
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class LSTMPolicy(BasePolicy):
    """An LSTM over the flattened observation; actor and critic MLPs read the observation and
    the LSTM's output (so the memory adds to what a feed-forward policy sees). With
    ``banana_attention`` (the hidden-target family, ``learners.policies.objects``) the LSTM reads the
    features that are not one banana's and a summary of the two that cannot tell their slots
    apart, and the actor and critic read the attended banana's code, those features and the
    memory: the policy sees two bananas, not two slots.

    An LSTM, not a GRU: on a CPU, torch's LSTM runs forward and backward over a whole
    sequence as fused kernels, and a GRU step by step (200 steps, 4 sequences, 128 units,
    one thread: 5 ms against 25-29 ms, measured on this project's 2-core machine).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Box,
        lr_schedule,
        hidden_size: int = 128,
        net_arch: list[int] | tuple[int, ...] = (256, 256),
        log_std_init: float = 0.0,
        banana_attention: bool = False,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(observation_space, action_space, optimizer_kwargs={"eps": 1e-5, **(optimizer_kwargs or {})})
        self.keys = list(observation_space.spaces)
        self.hidden_size, self.net_arch, self.log_std_init = hidden_size, list(net_arch), log_std_init
        self.banana_attention = banana_attention
        obs_dim = sum(int(np.prod(observation_space[key].shape)) for key in self.keys)
        n_actions = int(np.prod(action_space.shape))
        if banana_attention:  # the hidden-target family's two bananas as objects (learners.policies.objects)
            self.attention = BananaAttention(observation_space, memory=hidden_size)
            sizes = (self.attention.memory_features, self.attention.features + hidden_size)
        else:
            sizes = (obs_dim, obs_dim + hidden_size)
        self.lstm = nn.LSTM(sizes[0], hidden_size)
        self.actor = mlp(sizes[1], self.net_arch, n_actions, out_gain=0.01)
        self.critic = mlp(sizes[1], self.net_arch, 1, out_gain=1.0)
        self.log_std = nn.Parameter(th.full((n_actions,), float(log_std_init)))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "hidden_size": self.hidden_size,
                "net_arch": self.net_arch, "log_std_init": self.log_std_init,
                "banana_attention": self.banana_attention}  # fmt: skip

    def flatten(self, obs: dict[str, th.Tensor]) -> th.Tensor:
        """One vector per step, the keys in the observation space's order."""
        parts = []
        for key in self.keys:
            value = obs[key].float()
            parts.append(value.reshape(*value.shape[: value.dim() - len(self.observation_space[key].shape)], -1))
        return th.cat(parts, dim=-1)

    def forward_trials(self, x: th.Tensor, memory: tuple[th.Tensor, th.Tensor] | None = None):
        """``x`` of shape (time, batch, features), ``memory`` the LSTM's (h, c) or None (zeros):
        action means, values, and the last memory."""
        if self.banana_attention:
            out, memory = self.lstm(self.attention.summary(x), memory)
            z = th.cat([self.attention(x, out), out], dim=-1)
        else:
            out, memory = self.lstm(x, memory)
            z = th.cat([x, out], dim=-1)
        return self.actor(z), self.critic(z).squeeze(-1), memory

    def distribution(self, mean: th.Tensor) -> Normal:
        return Normal(mean, self.log_std.exp().expand_as(mean))

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        """One step for a batch of envs: actions (clipped to the action space) and the next
        memory, an array of shape (2, 1, envs, hidden) holding h and c; the memory is reset
        where ``episode_start`` is true (a new trial)."""
        self.set_training_mode(False)
        obs, vectorized = self.obs_to_tensor(observation)
        x = self.flatten(obs)
        if state is None:
            memory = th.zeros(2, 1, x.shape[0], self.hidden_size, device=self.device)
        else:
            memory = th.as_tensor(state, device=self.device).float()
        if episode_start is not None:
            memory = memory * (1.0 - th.as_tensor(episode_start, device=self.device).float()).view(1, 1, -1, 1)
        with th.no_grad():
            mean, _, (h, c) = self.forward_trials(x[None], (memory[0], memory[1]))
            action = mean[0] if deterministic else self.distribution(mean[0]).sample()
        action = np.clip(action.cpu().numpy(), self.action_space.low, self.action_space.high)
        return (action if vectorized else action[0]), th.stack([h, c]).cpu().numpy()

    def _predict(self, observation, deterministic: bool = False) -> th.Tensor:
        mean, _, _ = self.forward_trials(self.flatten(observation)[None])
        return mean[0] if deterministic else self.distribution(mean[0]).sample()


@dataclass
class TrialBatch:
    """One rollout: ``(time, env)`` arrays, one trial per env."""

    obs: th.Tensor  # (T, N, features), normalised
    actions: th.Tensor  # (T, N, actions), as sampled (before clipping)
    log_probs: th.Tensor  # (T, N)
    values: th.Tensor  # (T, N)
    rewards: th.Tensor  # (T, N)
    live: th.Tensor  # (T, N) bool: False on padded steps
    advantages: th.Tensor | None = None
    returns: th.Tensor | None = None

    def compute_returns(self, gamma: float, gae_lambda: float) -> None:
        """GAE(lambda); a trial's last step is terminal (the next trial is a new task)."""
        advantages = th.zeros_like(self.rewards)
        last = th.zeros_like(self.rewards[0])
        for t in reversed(range(len(self.rewards))):
            next_value = self.values[t + 1] if t + 1 < len(self.rewards) else th.zeros_like(last)
            delta = self.rewards[t] + gamma * next_value - self.values[t]
            last = delta + gamma * gae_lambda * last
            advantages[t] = last
        self.advantages, self.returns = advantages, advantages + self.values


class TrialPPO(OnPolicyAlgorithm):
    """PPO with an LSTM policy over fixed-length trials of ``n_steps`` steps.

    ``n_steps`` must be the trial's length (episodes x steps per episode): each rollout
    collects one trial per env, and a trial that ends at any other step is an error, not a
    silently misaligned memory. Minibatches hold ``minibatch_trials`` whole trials.
    """

    policy_aliases = {"LSTMPolicy": LSTMPolicy}  # noqa: RUF012 (stable-baselines3's convention)

    def __init__(
        self,
        policy: str | type[LSTMPolicy],
        env: VecEnv | None,
        learning_rate: float = 3e-4,
        n_steps: int = 200,
        minibatch_trials: int = 2,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str = "cpu",
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(
            policy, env, learning_rate=learning_rate, n_steps=n_steps, gamma=gamma, gae_lambda=gae_lambda,
            ent_coef=ent_coef, vf_coef=vf_coef, max_grad_norm=max_grad_norm, use_sde=False, sde_sample_freq=-1,
            stats_window_size=stats_window_size, tensorboard_log=tensorboard_log, policy_kwargs=policy_kwargs,
            verbose=verbose, seed=seed, device=device, _init_setup_model=False, supported_action_spaces=(spaces.Box,),
        )  # fmt: skip
        self.minibatch_trials, self.n_epochs, self.clip_range = minibatch_trials, n_epochs, clip_range
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if self.env is not None and self.n_envs % self.minibatch_trials:
            raise ValueError(
                f"minibatch_trials={self.minibatch_trials} must divide the number of envs ({self.n_envs}): "
                "each env collects one trial per rollout"
            )
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(self.observation_space, self.action_space, self.lr_schedule,
                                        **self.policy_kwargs).to(self.device)  # fmt: skip
        self.rollout_buffer = None  # a TrialBatch after each rollout

    def collect_rollouts(self, env: VecEnv, callback: BaseCallback, rollout_buffer, n_rollout_steps: int) -> bool:
        assert self._last_obs is not None, "No previous observation was provided"
        if not np.all(self._last_episode_starts):
            raise RuntimeError("a rollout must begin where every env begins a trial (reset the env first)")
        self.policy.set_training_mode(False)
        n_envs, low, high = env.num_envs, self.action_space.low, self.action_space.high
        columns: dict[str, list] = {"obs": [], "actions": [], "log_probs": [], "values": [], "rewards": [], "live": []}
        memory = None  # zeros: every trial begins here
        callback.on_rollout_start()
        for step in range(n_rollout_steps):
            with th.no_grad():
                x = self.policy.flatten(obs_as_tensor(self._last_obs, self.device))
                mean, values, memory = self.policy.forward_trials(x[None], memory)
                dist = self.policy.distribution(mean[0])
                actions = dist.sample()
                log_probs = dist.log_prob(actions).sum(-1)
            new_obs, rewards, dones, infos = env.step(np.clip(actions.cpu().numpy(), low, high))
            self.num_timesteps += n_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            last = step == n_rollout_steps - 1
            if (not last and np.any(dones)) or (last and not np.all(dones)):
                raise RuntimeError(
                    f"every trial must last exactly n_steps={n_rollout_steps} steps, but env "
                    f"{int(np.flatnonzero(dones != last)[0])} {'ended' if not last else 'did not end'} its trial at "
                    f"step {step + 1}: pad each episode to its full length (envs.PadEpisode) and set n_steps to "
                    "episodes per trial x steps per episode"
                )
            for name, value in (("obs", x), ("actions", actions), ("log_probs", log_probs), ("values", values[0]),
                                ("rewards", th.as_tensor(rewards, dtype=th.float32)),
                                ("live", th.tensor(["padded_steps" not in info for info in infos]))):  # fmt: skip
                columns[name].append(value)
            self._last_obs, self._last_episode_starts = new_obs, dones
        self.rollout_buffer = TrialBatch(**{name: th.stack(values) for name, values in columns.items()})
        self.rollout_buffer.compute_returns(self.gamma, self.gae_lambda)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def train(self) -> None:
        """PPO's clipped update, ``n_epochs`` passes over minibatches of whole trials."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        batch: TrialBatch = self.rollout_buffer
        logs: dict[str, list[float]] = {
            "policy_loss": [],
            "value_loss": [],
            "entropy": [],
            "approx_kl": [],
            "clip_fraction": [],
        }
        for _ in range(self.n_epochs):
            for trials in th.randperm(batch.obs.shape[1]).split(self.minibatch_trials):
                mean, values, _ = self.policy.forward_trials(batch.obs[:, trials])
                dist = self.policy.distribution(mean)
                log_probs = dist.log_prob(batch.actions[:, trials]).sum(-1)
                live = batch.live[:, trials]
                advantages = batch.advantages[:, trials][live]
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                log_ratio = log_probs[live] - batch.log_probs[:, trials][live]
                ratio = log_ratio.exp()
                clipped = th.clamp(ratio, 1 - self.clip_range, 1 + self.clip_range)
                policy_loss = -th.min(ratio * advantages, clipped * advantages).mean()
                value_loss = (batch.returns[:, trials] - values).pow(2).mean()
                entropy = dist.entropy().sum(-1)[live].mean()
                loss = policy_loss - self.ent_coef * entropy + self.vf_coef * value_loss
                self.policy.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
                with th.no_grad():
                    logs["approx_kl"].append(((ratio - 1) - log_ratio).mean().item())
                    logs["clip_fraction"].append(((ratio - 1).abs() > self.clip_range).float().mean().item())
                for name, value in (("policy_loss", policy_loss), ("value_loss", value_loss), ("entropy", entropy)):
                    logs[name].append(value.item())
        self._n_updates += self.n_epochs
        for name, values in logs.items():
            self.logger.record(f"train/{name}", float(np.mean(values)))
        ev = explained_variance(batch.values.flatten().numpy(), batch.returns.flatten().numpy())
        self.logger.record("train/explained_variance", ev)
        self.logger.record("train/std", self.policy.log_std.exp().mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
