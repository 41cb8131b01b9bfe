"""Policies that see the hidden-target family's two bananas as two objects of one kind.

A plain MLP over the concatenated observation learned to lift a banana but chose it by
place (always the one in observation slot ``b``, or always the one on the left) in every
setting measured: a choice by colour needs each banana's colour to gate which of two
position vectors to follow (docs/notes/019-hidden-target-learners-choose-by-place.md).

Here each banana is encoded by the same network (its pose, the vector to it, its colour,
with the features that are not one banana's: the gripper's, and RL^2's previous action,
reward and episode flag), and the policy and the critic read the two codes' sum weighted
by a softmax over one score per banana, read from that banana's code (and, in RL^2's
policy, from the memory). A choice of banana is then one small function applied to each
banana alike, and a choice by slot impossible. Every learner of the family gets this
network (specialists, multi-task, Reptile, RL^2), so the comparison between them stays
fair; what each must still learn is *which* banana pays.
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from banana_grasp.envs.hidden_target_tasks import SLOTS


def banana_keys(slot: str) -> list[str]:
    """The observation keys of one banana, in the same order for each slot."""
    return [f"banana_{slot}_pos", f"banana_{slot}_quat", f"gripper_to_banana_{slot}", f"banana_{slot}_color"]


def _offsets(space: spaces.Dict) -> dict[str, slice]:
    """Where each key lies in the observation flattened in the space's key order."""
    out, start = {}, 0
    for key, sub in space.spaces.items():
        size = int(sub.shape[0]) if sub.shape else 1
        out[key] = slice(start, start + size)
        start += size
    return out


def _index(offsets: dict[str, slice], keys: list[str]) -> th.Tensor:
    return th.tensor([i for key in keys for i in range(offsets[key].start, offsets[key].stop)])


class BananaAttention(nn.Module):
    """From a flat observation (``(..., features)``, the keys in ``space``'s order): the
    attended banana code and the shared features (everything that is not one banana's).
    ``width``: the size of a banana's code. ``memory`` > 0: the scores also read a memory
    vector of that size (RL^2's LSTM output), through a hidden layer of ``score_width``, and
    :meth:`summary` gives what the memory reads of the bananas."""

    def __init__(self, space: spaces.Dict, width: int = 64, score_width: int = 32, memory: int = 0) -> None:
        super().__init__()
        missing = [key for slot in SLOTS for key in banana_keys(slot) if key not in space.spaces]
        if missing:
            raise ValueError(f"a banana-attention policy needs both bananas' keys; missing: {', '.join(missing)}")
        offsets = _offsets(space)
        own = {key for slot in SLOTS for key in banana_keys(slot)}
        shared = [key for key in space.spaces if key not in own]
        self.register_buffer("shared", _index(offsets, shared), persistent=False)
        for slot in SLOTS:
            self.register_buffer(f"banana_{slot}", _index(offsets, banana_keys(slot)), persistent=False)
        n_banana, n_shared = len(self.banana_a), len(self.shared)
        self.encode = nn.Sequential(
            nn.Linear(n_banana + n_shared, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh()
        )
        # The score reads the banana's code; a memory's score, the memory too.
        self.score = (
            nn.Sequential(nn.Linear(width + memory, score_width), nn.Tanh(), nn.Linear(score_width, 1))
            if memory
            else nn.Linear(width, 1)
        )
        self.width, self.n_shared = width, n_shared
        if memory:  # what a memory reads of each banana (its colour, whether it is held as a reward comes)
            self.summarise = nn.Sequential(nn.Linear(n_banana + n_shared, score_width), nn.Tanh())

    @property
    def features(self) -> int:
        return self.width + self.n_shared

    @property
    def memory_features(self) -> int:
        return self.n_shared + self.summarise[0].out_features

    def _inputs(self, x: th.Tensor) -> tuple[th.Tensor, list[th.Tensor]]:
        """The shared features, and each banana's features with them (one per slot)."""
        shared = x[..., self.shared]
        return shared, [th.cat([x[..., getattr(self, f"banana_{slot}")], shared], dim=-1) for slot in SLOTS]

    def forward(self, x: th.Tensor, memory: th.Tensor | None = None) -> th.Tensor:
        shared, inputs = self._inputs(x)
        codes, scores = [], []
        for banana in inputs:
            code = self.encode(banana)
            codes.append(code)
            scores.append(self.score(code if memory is None else th.cat([code, memory], dim=-1)))
        weights = th.softmax(th.cat(scores, dim=-1), dim=-1)  # (..., 2)
        attended = weights[..., :1] * codes[0] + weights[..., 1:] * codes[1]
        return th.cat([attended, shared], dim=-1)

    def summary(self, x: th.Tensor) -> th.Tensor:
        """What a memory reads: the shared features and the same small code of each banana
        (with the shared features) summed over the two, so that it cannot tell the slots apart."""
        shared, inputs = self._inputs(x)
        codes = [self.summarise(banana) for banana in inputs]
        return th.cat([shared, codes[0] + codes[1]], dim=-1)


class BananaAttentionExtractor(BaseFeaturesExtractor):
    """stable-baselines3's features extractor for PPO (``policy_kwargs.features_extractor_class``)."""

    def __init__(self, observation_space: spaces.Dict, width: int = 64) -> None:
        attention = BananaAttention(observation_space, width)
        super().__init__(observation_space, attention.features)
        self.keys = list(observation_space.spaces)
        self.attention = attention

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        flat = th.cat([observations[key].flatten(1).float() for key in self.keys], dim=1)
        return self.attention(flat)


# Names that hyperparams.yaml may give as ``policy_kwargs.features_extractor_class``.
EXTRACTORS = {"banana-attention": BananaAttentionExtractor}


def algo_settings(algo: dict[str, Any]) -> dict[str, Any]:
    """A set's ``algo`` settings for the algorithm's constructor: a named features extractor
    becomes its class (the YAML file and the saved records hold the name)."""
    kwargs = algo.get("policy_kwargs") or {}
    name = kwargs.get("features_extractor_class")
    if not isinstance(name, str):
        return algo
    if name not in EXTRACTORS:
        raise ValueError(f"unknown features_extractor_class {name!r}; allowed: {', '.join(EXTRACTORS)}")
    return {**algo, "policy_kwargs": {**kwargs, "features_extractor_class": EXTRACTORS[name]}}
