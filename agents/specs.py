"""Learners, hyperparameters and presets: typed views of the YAML files in ``config/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from banana_grasp.envs.tasks import POSITION_LAYOUTS, VARIATIONS

KINDS = ("ppo", "rl2", "reptile", "random", "expert")
ROLES = ("single-task", "multi-task", "meta", "reference")
TRAINED_KINDS = ("ppo", "rl2", "reptile")


def _read(name: str) -> dict[str, Any]:
    text = (resources.files("banana_grasp.agents") / "config" / name).read_text()
    return yaml.safe_load(text)


@dataclass(frozen=True)
class LearnerSpec:
    """One learner: what it is trained on, how, and its role in the comparison."""

    name: str
    kind: str
    variation: str
    role: str
    greyscale: bool = False
    hyperparameters: str | None = None
    normalize_all_keys: bool = False  # ablation: normalise colour too (see vec.RAW_KEYS)

    def __post_init__(self) -> None:
        for label, value, allowed in (
            ("kind", self.kind, KINDS),
            ("variation", self.variation, VARIATIONS),
            ("role", self.role, ROLES),
        ):
            if value not in allowed:
                raise ValueError(f"learner {self.name!r}: unknown {label} {value!r}; allowed: {', '.join(allowed)}")

    @property
    def trained(self) -> bool:
        return self.kind in TRAINED_KINDS


@dataclass(frozen=True)
class Preset:
    """Budgets of one comparison run (a file in ``config/presets``)."""

    name: str
    seeds: tuple[int, ...]
    train_steps: dict[str, int]  # learner kind -> env steps
    learners: tuple[str, ...]
    k_episodes: int  # adaptation episodes per held-out task
    eval_episodes: int  # evaluation episodes per held-out task, zero-shot and again after adaptation
    heldout_tasks: int
    train_eval_episodes: int  # tasks (one episode each) of the learner's own training variation
    position_layout: str = "interleaved"
    task_seed: int = 12345  # draws the held-out tasks, the same for every learner
    video_tasks: int = 3
    algo_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> SB3 kwargs

    def steps_for(self, learner: LearnerSpec) -> int:
        if learner.kind not in self.train_steps:
            raise ValueError(f"preset {self.name!r} has no train_steps for kind {learner.kind!r}")
        return int(self.train_steps[learner.kind])


def learners() -> dict[str, LearnerSpec]:
    return {name: LearnerSpec(name=name, **fields) for name, fields in _read("learners.yaml").items()}


def learner(name: str) -> LearnerSpec:
    specs = learners()
    if name not in specs:
        raise ValueError(f"unknown learner {name!r}; allowed: {', '.join(specs)}")
    return specs[name]


def hyperparameters(name: str) -> dict[str, Any]:
    table = _read("hyperparams.yaml")
    if name not in table:
        raise ValueError(f"unknown hyperparameter set {name!r}; allowed: {', '.join(table)}")
    return table[name]


def preset_names() -> list[str]:
    folder = resources.files("banana_grasp.agents") / "config" / "presets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset(name: str) -> Preset:
    names = preset_names()
    if name not in names:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(names)}")
    fields = _read(f"presets/{name}.yaml")
    fields["seeds"] = tuple(fields["seeds"])
    fields["learners"] = tuple(fields["learners"])
    result = Preset(name=name, **fields)
    for learner_name in result.learners:
        learner(learner_name)
    if result.position_layout not in POSITION_LAYOUTS:
        raise ValueError(f"preset {name!r}: unknown position_layout {result.position_layout!r}")
    return result
