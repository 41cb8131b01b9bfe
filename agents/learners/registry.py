"""The learner kinds, and the learners of the comparison (typed views of ``config/*.yaml``).

A **kind** is an algorithm: how a learner is trained, saved, loaded and adapted. Each kind
is one module of this package with two functions,

- ``train(spec, seed, steps, files, settings) -> dict`` (trained kinds only): train into
  ``files`` (a :class:`~banana_grasp.agents.common.layout.LearnerFiles`) and return the
  learner's metadata, as :func:`banana_grasp.agents.learners.training.train` calls it;
- ``load_agent(spec, files, envs) -> Agent``: the agent that plays and adapts (see
  :class:`banana_grasp.agents.protocol.agent.Agent`), ``envs`` making its evaluation envs,
- ``blueprint(spec, algo_overrides) -> storage.Blueprint`` (kinds that save a model through
  ``storage``): the algorithm, policy and settings its model is made with, from which
  ``storage.load_model`` rebuilds what a saved model holds pickled, instead of unpickling it,

and one entry in :data:`KINDS`. A **learner** (``config/learners.yaml``) is a kind trained on a
variation, with a role in the comparison and a hyperparameter set (``config/hyperparams.yaml``).
Modules are imported only when a kind is used, so reading this registry stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from banana_grasp.agents.common.config import read_config
from banana_grasp.agents.common.variations import VARIATIONS


@dataclass(frozen=True)
class LearnerKind:
    name: str
    module: str  # implements train() (if trained) and load_agent()
    trained: bool = True
    # Adapts in context: trained and evaluated on trials of k + 1 episodes of one task
    # (envs.Trial), so each episode of a trial is scored as well.
    in_context: bool = False
    pixels_only: bool = False  # its learners must see pixels (LearnerSpec.observation)

    def implementation(self) -> ModuleType:
        return importlib.import_module(self.module)


KINDS: dict[str, LearnerKind] = {
    kind.name: kind
    for kind in (
        LearnerKind("ppo", "banana_grasp.agents.learners.ppo"),
        LearnerKind("rl2", "banana_grasp.agents.learners.rl2", in_context=True),
        LearnerKind("reptile", "banana_grasp.agents.learners.reptile"),
        LearnerKind("fomaml", "banana_grasp.agents.learners.fomaml"),
        LearnerKind("dagger", "banana_grasp.agents.learners.dagger", pixels_only=True),
        LearnerKind("dagger-rl2", "banana_grasp.agents.learners.dagger_rl2", in_context=True, pixels_only=True),
        LearnerKind("random", "banana_grasp.agents.learners.random_policy", trained=False),
        LearnerKind("expert", "banana_grasp.agents.learners.expert", trained=False),
    )
}
ROLES = ("single-task", "multi-task", "meta", "reference")
OBSERVATIONS = ("state", "pixels")


def kind(name: str) -> LearnerKind:
    if name not in KINDS:
        raise ValueError(f"unknown learner kind {name!r}; allowed: {', '.join(KINDS)}")
    return KINDS[name]


@dataclass(frozen=True)
class LearnerSpec:
    """One learner: what it is trained on, how, and its role in the comparison."""

    name: str
    kind: str
    variation: str
    role: str
    greyscale: bool = False
    # state: the env's state observation; pixels: 64x64 front-camera images and the gripper's
    # proprioception (learners/pixels.py), with the privileged state under state_* keys for
    # a critic or a teacher, never for the actor.
    observation: str = "state"
    hyperparameters: str | None = None
    normalize_all_keys: bool = False  # ablation: normalise colour too (see envs.RAW_KEYS)

    def __post_init__(self) -> None:
        for label, value, allowed in (
            ("kind", self.kind, tuple(KINDS)),
            ("variation", self.variation, VARIATIONS),
            ("role", self.role, ROLES),
            ("observation", self.observation, OBSERVATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"learner {self.name!r}: unknown {label} {value!r}; allowed: {', '.join(allowed)}")
        if KINDS[self.kind].pixels_only and self.observation != "pixels":
            raise ValueError(f"learner {self.name!r}: kind {self.kind!r} learns from pixels; set observation: pixels")
        if self.trained and self.hyperparameters is None:
            raise ValueError(f"learner {self.name!r} of kind {self.kind!r} is trained: name its hyperparameters")

    @property
    def trained(self) -> bool:
        return KINDS[self.kind].trained

    @property
    def in_context(self) -> bool:
        return KINDS[self.kind].in_context

    @property
    def implementation(self) -> ModuleType:
        return KINDS[self.kind].implementation()


def learners() -> dict[str, LearnerSpec]:
    return {name: LearnerSpec(name=name, **fields) for name, fields in read_config("learners.yaml").items()}


def learner(name: str) -> LearnerSpec:
    specs = learners()
    if name not in specs:
        raise ValueError(f"unknown learner {name!r}; allowed: {', '.join(specs)}")
    return specs[name]


def hyperparameters(name: str) -> dict[str, Any]:
    """One set of ``hyperparams.yaml``; VecNormalize's discount is the algorithm's ``gamma``."""
    table = read_config("hyperparams.yaml")
    if name not in table:
        raise ValueError(f"unknown hyperparameter set {name!r}; allowed: {', '.join(table)}")
    chosen = dict(table[name])  # YAML aliases share objects: copy before filling in
    if "normalize" in chosen:
        chosen["normalize"] = {**chosen["normalize"], "gamma": chosen["algo"]["gamma"]}
    return chosen


def load_agent(learner: LearnerSpec, files: Any, tasks: Any) -> Any:
    """The agent of ``learner`` (an :class:`~banana_grasp.agents.protocol.agent.Agent`), playing the
    tasks of ``tasks`` (an ``envs.EnvSpec``); a trained learner loads from ``files`` (``LearnerFiles``)."""
    import torch

    from banana_grasp.agents.learners.envs import EvalEnvs

    torch.set_num_threads(1)
    if learner.trained and files is None:
        raise ValueError(f"learner {learner.name!r} is trained: give the folder it was saved in")
    return learner.implementation.load_agent(learner, files, EvalEnvs(learner, tasks))
