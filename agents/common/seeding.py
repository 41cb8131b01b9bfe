"""Every random stream of a training seed, derived from ``numpy.random.SeedSequence(seed)``.

Stream ``i`` of seed ``s`` is ``SeedSequence(s, spawn_key=(i, ...))``, which is what
``SeedSequence(s).spawn(...)`` hands out, so no two seeds share a stream (seeding env ``i``
of seed ``s`` with ``s + i`` made seeds 0-4 share 7 of their 8 env streams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POLICY, ENVS, TASKS, CHECKS = 0, 1, 2, 3  # the streams of one training seed


@dataclass(frozen=True)
class SeedStreams:
    seed: int

    def _stream(self, stream: int, keys: tuple[int, ...]) -> np.random.SeedSequence:
        if self.seed < 0:
            raise ValueError(f"a training seed must be >= 0; got {self.seed}")
        return np.random.SeedSequence(self.seed, spawn_key=(stream, *keys))

    def policy(self, *keys: int) -> int:
        """The seed of the policy's initialisation and sampling (torch, numpy, random); ``keys``
        tell apart the stretches of a training between checkpoints (its step count)."""
        return int(self._stream(POLICY, keys).generate_state(1)[0])

    def envs(self, n: int, *keys: int) -> list[int]:
        """Seeds of ``n`` training envs; ``keys`` tell apart sets of envs (e.g. Reptile's iterations)."""
        return [int(s) for s in self._stream(ENVS, keys).generate_state(n)]

    def check_envs(self, n: int) -> list[int]:
        """Seeds of ``n`` envs that check a training's success (``learners.stopping``)."""
        return [int(s) for s in self._stream(CHECKS, ()).generate_state(n)]

    def tasks(self, *keys: int) -> np.random.Generator:
        """A generator for task draws (Reptile's meta-iterations)."""
        return np.random.default_rng(self._stream(TASKS, keys))
