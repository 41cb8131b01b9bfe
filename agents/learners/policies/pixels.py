"""Pixel learners' pieces: what they see, the network that sees it, and two ways to train it.

A pixel learner's policy sees the ``front`` camera at 64x64 (RGB, or grey through
``Greyscale``) and the gripper's proprioception (position, yaw, finger opening, contacts),
nothing else. Training may use the privileged state (the lift env's state observation,
under ``state_*`` keys): for a critic (asymmetric actor-critic) or for a teacher that labels
actions. The actor's network never reads those keys (:class:`PixelActor` takes only
``pixels`` and the proprioceptive keys).

Both methods measured (docs/notes/029-pixel-learners-dagger.md) use
:class:`AsymmetricPolicy`, stable-baselines3's actor-critic with the actor on pixels and
proprioception (random shifts of the images while training) and the critic on the state:
trained by PPO end to end (the learner ``pixel-position-specialist-ppo``, set ``ppo-pixels``),
or distilled from a state learner by DAgger (``learners/algorithms/dagger.py``, the kind the presets use).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy, MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from banana_grasp.agents.learners.algorithms.trial_ppo import LSTMPolicy, mlp
from banana_grasp.envs import Greyscale

PIXEL_SIZE = 64
PIXEL_KWARGS = {"obs_mode": "pixels", "pixel_size": PIXEL_SIZE, "pixels_with_proprio": True}  # camera: front
PROPRIO_KEYS = ("gripper_pos", "gripper_yaw", "finger_opening", "finger_contact")
STATE_PREFIX = "state_"


class PrivilegedState(gym.ObservationWrapper):
    """Adds the env's state observation, each key prefixed ``state_``, to a pixel observation
    (for a critic or a teacher; the pixel actor never reads these keys)."""

    def __init__(self, env: gym.Env, state_space: spaces.Dict) -> None:
        super().__init__(env)
        self._state_keys = tuple(state_space.spaces)
        self.observation_space = spaces.Dict(
            {**env.observation_space.spaces, **{STATE_PREFIX + k: v for k, v in state_space.spaces.items()}}
        )

    def observation(self, observation: dict) -> dict:
        state = self.env.unwrapped.state_observation()
        return {**observation, **{STATE_PREFIX + k: state[k] for k in self._state_keys}}


def pixel_env(env_id: str, greyscale: bool, privileged: bool, **kwargs) -> gym.Env:
    """The pixel view of ``env_id``: 64x64 ``front`` images with proprioception, grey if
    ``greyscale``, plus the privileged state (``state_*``) if ``privileged``."""
    env = gym.make(env_id, **PIXEL_KWARGS, **kwargs)
    state_space = gym.make(env_id).observation_space if privileged else None
    if greyscale:
        env = Greyscale(env)
    if privileged:
        env = PrivilegedState(env, state_space)
    return env


def nature_cnn(channels: int) -> nn.Sequential:
    """The Nature-DQN convolutions (Mnih et al., 2015), flattened: 64x64 images -> 1,024 features."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
        nn.Flatten(),
    )


def random_shift(images: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """DrQ's augmentation: pad by replicating the border, then crop back at a random offset
    per image (a shift of up to ``pad`` pixels each way)."""
    n, _, h, w = images.shape
    padded = nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (n,), device=images.device)
    dy = torch.randint(0, 2 * pad + 1, (n,), device=images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device)[None])[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w, device=images.device)[None])[:, None, :].expand(n, h, w)
    index = (rows * (w + 2 * pad) + cols).reshape(n, 1, h * w).expand(-1, images.shape[1], -1)
    return padded.flatten(2).gather(2, index).reshape(images.shape)


class PixelActor(BaseFeaturesExtractor):
    """Nature-DQN convolutions on the image (64x64 -> 1,024 features), an MLP on the
    proprioception, concatenated and projected to ``features_dim``. Reads only ``pixels``
    and the proprioceptive keys; shifts the images at random while in training mode if
    ``augment``. Images arrive channel-first in [0, 1] (stable-baselines3's preprocessing)."""

    def __init__(self, observation_space: spaces.Dict, features_dim: int = 256, augment: bool = True) -> None:
        super().__init__(observation_space, features_dim)
        channels = observation_space["pixels"].shape[0]  # channel-first after VecTransposeImage
        self.augment = augment
        self.cnn = nature_cnn(channels)
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, *observation_space["pixels"].shape)).shape[1]
        n_proprio = sum(int(np.prod(observation_space[k].shape)) for k in PROPRIO_KEYS)
        self.proprio = nn.Sequential(nn.Linear(n_proprio, 64), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(n_flat + 64, features_dim), nn.ReLU())

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        images = observations["pixels"]
        if self.augment and self.training:
            images = random_shift(images)
        proprio = torch.cat([observations[k].flatten(1) for k in PROPRIO_KEYS], dim=1)
        return self.head(torch.cat([self.cnn(images), self.proprio(proprio)], dim=1))


class StateCritic(BaseFeaturesExtractor):
    """The critic's view: the privileged ``state_*`` keys, flattened, through one layer."""

    def __init__(self, observation_space: spaces.Dict, features_dim: int = 256) -> None:
        super().__init__(observation_space, features_dim)
        self.keys = tuple(k for k in observation_space.spaces if k.startswith(STATE_PREFIX))
        n_in = sum(int(np.prod(observation_space[k].shape)) for k in self.keys)
        self.net = nn.Sequential(nn.Linear(n_in, features_dim), nn.ReLU())

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(torch.cat([observations[k].flatten(1) for k in self.keys], dim=1))


class AsymmetricPolicy(MultiInputActorCriticPolicy):
    """stable-baselines3's actor-critic with the actor on pixels + proprioception
    (:class:`PixelActor`) and the critic on the privileged state (:class:`StateCritic`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.update(share_features_extractor=False, features_extractor_class=PixelActor)
        super().__init__(*args, **kwargs)
        # SB3 builds the critic's extractor as a copy of the actor's: replace it, then rebuild
        # the optimiser over the parameters as they now are.
        self.vf_features_extractor = StateCritic(self.observation_space, self.features_dim)
        self.optimizer = self.optimizer_class(self.parameters(), lr=self._learning_rate, **self.optimizer_kwargs)

    def _build(self, lr_schedule) -> None:
        self._learning_rate = lr_schedule(1)
        super()._build(lr_schedule)


class PixelLSTMPolicy(LSTMPolicy):
    """RL^2's recurrent policy (``trial_ppo.LSTMPolicy``) for a pixel learner: the Nature-DQN
    convolutions encode the image (random shifts while training); the LSTM reads that code,
    the proprioception and the trial's previous action, reward and done flag; the actor reads
    those and the memory, the critic the privileged state (``state_*``), the trial's keys and
    the memory. Observations arrive flattened in the space's key order (``flatten``), images
    channel-first as stable-baselines3 passes them, in [0, 255]."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Box, lr_schedule, hidden_size: int = 128,
                 net_arch=(256, 256), log_std_init: float = 0.0, features_dim: int = 256,
                 optimizer_kwargs: dict | None = None) -> None:  # fmt: skip
        BasePolicy.__init__(self, observation_space, action_space,
                            optimizer_kwargs={"eps": 1e-5, **(optimizer_kwargs or {})})  # fmt: skip
        self.keys = list(observation_space.spaces)
        self.hidden_size, self.net_arch, self.log_std_init = hidden_size, list(net_arch), log_std_init
        self.features_dim = features_dim
        self.banana_attention = False
        sizes = {k: int(np.prod(observation_space[k].shape)) for k in self.keys}
        offsets = dict(zip(self.keys, np.cumsum([0, *sizes.values()])[:-1].tolist()))
        self._slices = {k: slice(offsets[k], offsets[k] + sizes[k]) for k in self.keys}
        self.image_shape = tuple(observation_space["pixels"].shape)  # (C, H, W)
        self.actor_keys = [k for k in self.keys if k != "pixels" and not k.startswith(STATE_PREFIX)]
        self.critic_keys = [k for k in self.keys if k.startswith((STATE_PREFIX, "prev_"))]
        n_actions = int(np.prod(action_space.shape))
        self.cnn = nature_cnn(self.image_shape[0])
        with torch.no_grad():
            n_flat = self.cnn(torch.zeros(1, *self.image_shape)).shape[1]
        self.encode = nn.Sequential(nn.Linear(n_flat, features_dim), nn.ReLU())
        n_actor = features_dim + sum(sizes[k] for k in self.actor_keys)
        n_critic = sum(sizes[k] for k in self.critic_keys)
        self.lstm = nn.LSTM(n_actor, hidden_size)
        self.actor = mlp(n_actor + hidden_size, self.net_arch, n_actions, out_gain=0.01)
        self.critic = mlp(n_critic + hidden_size, self.net_arch, 1, out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((n_actions,), float(log_std_init)))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict:
        params = super()._get_constructor_parameters()
        params.pop("banana_attention")
        return {**params, "features_dim": self.features_dim}

    def _part(self, x: torch.Tensor, keys: list[str]) -> torch.Tensor:
        return torch.cat([x[..., self._slices[k]] for k in keys], dim=-1)

    def forward_trials(self, x: torch.Tensor, memory=None, critic_shapes_memory: bool = True):
        """As ``LSTMPolicy.forward_trials``; with ``critic_shapes_memory`` false the critic reads
        the memory detached, so that a value loss trains the critic's head alone."""
        steps, batch = x.shape[:2]
        images = x[..., self._slices["pixels"]].reshape(steps * batch, *self.image_shape) / 255.0
        if self.training:
            images = random_shift(images)
        code = self.encode(self.cnn(images)).reshape(steps, batch, -1)
        seen = torch.cat([code, self._part(x, self.actor_keys)], dim=-1)
        out, memory = self.lstm(seen, memory)
        mean = self.actor(torch.cat([seen, out], dim=-1))
        memory_read = out if critic_shapes_memory else out.detach()
        value = self.critic(torch.cat([self._part(x, self.critic_keys), memory_read], dim=-1)).squeeze(-1)
        return mean, value, memory
