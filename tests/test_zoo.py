"""The rl-zoo3 hyperparameter module: the project's PPO settings for every registered id."""

from __future__ import annotations

from importlib import resources

import gymnasium as gym
import pytest
import yaml

import banana_grasp.envs  # noqa: F401  (registers the ids)
from banana_grasp.agents.learners import zoo_hyperparams
from banana_grasp.envs import ENV_IDS

# Restated from docs/learners.md ("Normalisation"): keys in [-1, 1] that may be constant in training.
LEFT_RAW = {"banana_color", "banana_luminance", "banana_quat", "finger_contact", "prev_action", "prev_done"}


def _yaml_ppo() -> dict:
    text = (resources.files("banana_grasp.agents") / "config" / "hyperparams.yaml").read_text()
    return yaml.safe_load(text)["ppo"]


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_every_id_gets_the_projects_ppo_settings(env_id: str) -> None:
    settings, ppo = zoo_hyperparams.hyperparams[env_id], _yaml_ppo()
    assert settings["policy"] == "MultiInputPolicy"  # rl-zoo3's default MlpPolicy refuses Dict observations
    assert settings["n_envs"] == ppo["n_envs"]
    for key, value in ppo["algo"].items():
        assert settings[key] == value, key
    normalize = settings["normalize"]
    assert normalize["epsilon"] == ppo["normalize"]["epsilon"] == 1e-4
    assert normalize["gamma"] == ppo["algo"]["gamma"]
    keys = set(gym.make(env_id).observation_space.spaces)
    assert set(normalize["norm_obs_keys"]) == keys - LEFT_RAW
    assert "banana_color" in keys and "banana_color" not in normalize["norm_obs_keys"]
