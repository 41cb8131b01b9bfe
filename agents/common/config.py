"""Reading the YAML data of ``banana_grasp/agents/config``: learners, hyperparameters, presets."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def read_config(name: str) -> dict[str, Any]:
    """One YAML file of ``config/`` (``name`` relative to it, e.g. ``presets/quick.yaml``)."""
    text = (resources.files("banana_grasp.agents") / "config" / name).read_text()
    return yaml.safe_load(text)


def config_names(folder: str) -> list[str]:
    """The YAML files of a ``config/`` subfolder, without their suffix."""
    files = (resources.files("banana_grasp.agents") / "config" / folder).iterdir()
    return sorted(p.name.removesuffix(".yaml") for p in files if p.name.endswith(".yaml"))
