"""The project's PPO settings in the form rl-zoo3 reads, for every registered id.

``python -m rl_zoo3.train --algo ppo --env BananaGrasp/Lift-Position-v3 --gym-packages
banana_grasp.envs --conf-file banana_grasp.agents.learners.zoo_hyperparams`` trains with
the settings of ``config/hyperparams.yaml`` (``ppo``): ``MultiInputPolicy``, the network,
rollout and update settings, and VecNormalize with the project's epsilon and with the keys
that may be constant in training left raw (``envs.RAW_KEYS``). rl-zoo3's defaults do not
learn this task. Built from the YAML when imported, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from banana_grasp.agents.learners.envs import normalized_keys
from banana_grasp.agents.learners.registry import hyperparameters
from banana_grasp.envs import ENV_IDS

N_TIMESTEPS = 150_000  # the full preset's budget


def zoo_hyperparams(env_id: str) -> dict[str, Any]:
    ppo = hyperparameters("ppo")
    env = gym.make(env_id)
    keys = normalized_keys(env.observation_space)
    env.close()
    return {
        "n_envs": ppo["n_envs"],
        "n_timesteps": N_TIMESTEPS,
        "policy": "MultiInputPolicy",
        **ppo["algo"],
        "normalize": {"norm_obs_keys": keys, **ppo["normalize"]},
    }


hyperparams: dict[str, dict[str, Any]] = {env_id: zoo_hyperparams(env_id) for env_id in ENV_IDS}
