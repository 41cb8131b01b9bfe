"""The learner kinds, and the learners of the comparison (typed views of ``config/*.yaml``).

A **kind** is an algorithm: how a learner is trained, saved, loaded and adapted. Each kind
is one module of :mod:`banana_grasp.agents.learners.algorithms` with two functions,

- ``train(run) -> dict`` (trained kinds only): train ``run.learner`` into ``run.files`` (a
  :class:`~banana_grasp.agents.common.layout.LearnerFiles`) as ``run`` (a
  :class:`~banana_grasp.agents.learners.training.TrainRun`) says and return the learner's
  metadata, as :func:`banana_grasp.agents.learners.training.train` calls it;
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

import functools
import importlib
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from banana_grasp.agents.common.config import read_config
from banana_grasp.agents.families import family_of, variations


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
        LearnerKind("ppo", "banana_grasp.agents.learners.algorithms.ppo"),
        LearnerKind("rl2", "banana_grasp.agents.learners.algorithms.rl2", in_context=True),
        LearnerKind("reptile", "banana_grasp.agents.learners.algorithms.reptile"),
        LearnerKind("fomaml", "banana_grasp.agents.learners.algorithms.fomaml"),
        LearnerKind("dagger", "banana_grasp.agents.learners.algorithms.dagger", pixels_only=True),
        LearnerKind(
            "dagger-rl2", "banana_grasp.agents.learners.algorithms.dagger_rl2", in_context=True, pixels_only=True
        ),
        LearnerKind("random", "banana_grasp.agents.learners.algorithms.random_policy", trained=False),
        LearnerKind("expert", "banana_grasp.agents.learners.algorithms.expert", trained=False),
    )
}
ROLES = ("single-task", "multi-task", "meta", "reference")
OBSERVATIONS = ("state", "pixels")


def kind(name: str) -> LearnerKind:
    """A built-in kind by name, or a kind outside the package by its module's import path."""
    return KINDS[name] if name in KINDS else outside_kind(name)


@functools.cache
def outside_kind(module: str) -> LearnerKind:
    """A kind outside the package: the importable module ``module``, with ``load_agent`` and, if
    it trains, ``train`` (the same two functions as a built-in kind's), and optionally
    ``IN_CONTEXT = True`` (it adapts in context, on trials) and ``PIXELS_ONLY = True``."""
    try:
        imported = importlib.import_module(module)
    except ImportError as error:
        raise ValueError(f"unknown learner kind {module!r}: not one of the package's ({', '.join(KINDS)}) and not an "
                         f"importable module ({error}); a kind of your own is a module on the Python path with "
                         "load_agent() and, if it trains, train()") from None  # fmt: skip
    if not callable(getattr(imported, "load_agent", None)):
        missing = f"learner kind {module!r}: {imported.__file__} has no function load_agent(learner, files, envs)"
        raise ValueError(missing + "; a kind needs load_agent() and, if it trains, train()")  # noqa: TRY004 (bad input)
    return LearnerKind(module, module, trained=callable(getattr(imported, "train", None)),
                       in_context=bool(getattr(imported, "IN_CONTEXT", False)),
                       pixels_only=bool(getattr(imported, "PIXELS_ONLY", False)))  # fmt: skip


@dataclass(frozen=True)
class LearnerSpec:
    """One learner: what it is trained on, how, and its role in the comparison."""

    name: str
    kind: str
    variation: str
    role: str
    greyscale: bool = False
    # state: the env's state observation; pixels: 64x64 front-camera images and the gripper's
    # proprioception (learners/policies/pixels.py), with the privileged state under state_* keys for
    # a critic or a teacher, never for the actor.
    observation: str = "state"
    hyperparameters: str | None = None
    normalize_all_keys: bool = False  # ablation: normalise colour too (see the families' raw_keys)
    # An oracle reference: its family's hidden task shown in its observation (the hidden-side
    # family's rule), in training and evaluation alike (Family.task_shown_kwargs).
    shows_task: bool = False

    def __post_init__(self) -> None:
        try:
            chosen = kind(self.kind)
        except ValueError as error:
            raise ValueError(f"learner {self.name!r}: {error}") from None
        for label, value, allowed in (
            ("variation", self.variation, variations()),
            ("role", self.role, ROLES),
            ("observation", self.observation, OBSERVATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"learner {self.name!r}: unknown {label} {value!r}; allowed: {', '.join(allowed)}")
        if self.shows_task:
            family_of(self.variation).task_shown_kwargs()  # ValueError, naming the family, if it has none
        if chosen.pixels_only and self.observation != "pixels":
            raise ValueError(f"learner {self.name!r}: kind {self.kind!r} learns from pixels; set observation: pixels")
        if self.trained and self.hyperparameters is None:
            raise ValueError(f"learner {self.name!r} of kind {self.kind!r} is trained: name its hyperparameters")

    @property
    def trained(self) -> bool:
        return kind(self.kind).trained

    @property
    def in_context(self) -> bool:
        return kind(self.kind).in_context

    @property
    def implementation(self) -> ModuleType:
        return kind(self.kind).implementation()


def learners() -> dict[str, LearnerSpec]:
    return {name: LearnerSpec(name=name, **fields) for name, fields in read_config("learners.yaml").items()}


def learner(name: str) -> LearnerSpec:
    specs = learners()
    if name not in specs:
        raise ValueError(f"unknown learner {name!r}; allowed: {', '.join(specs)}")
    return specs[name]


LEARNER_FIELDS = tuple(f.name for f in fields(LearnerSpec) if f.name != "name")


def read_learners_file(path: Path) -> tuple[dict[str, LearnerSpec], dict[str, int]]:
    """The learners of a learners file of one's own (``compare --learners-file``), in the form of
    ``config/learners.yaml``, each entry optionally with ``steps`` (its training budget):
    ``(specs by name, budgets by name)``. Clear errors, before any job, for a file that is not
    such a mapping, an unknown field, a name the package already has, or a kind that is not
    importable or lacks its functions."""
    path = Path(path)
    try:
        table = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read the learners file {path}: {error}") from None
    if not isinstance(table, dict) or not table or not all(isinstance(v, dict) for v in table.values()):
        raise ValueError(f"learners file {path}: must map each learner's name to its fields, as "
                         "agents/config/learners.yaml does")  # fmt: skip
    known, specs, budgets = learners(), {}, {}
    for name, entry in table.items():
        if name in known:
            raise ValueError(f"learners file {path}: learner {name!r} is one of the package's; give yours another name")
        unknown = set(entry) - {*LEARNER_FIELDS, "steps"}
        if unknown:
            raise ValueError(f"learners file {path}: learner {name!r} has unknown fields {sorted(unknown)}; "
                             f"allowed: {', '.join((*LEARNER_FIELDS, 'steps'))}")  # fmt: skip
        fields_ = dict(entry)
        if "steps" in fields_:
            budgets[name] = fields_.pop("steps")
        try:
            specs[name] = LearnerSpec(name=str(name), **fields_)
        except (TypeError, ValueError) as error:
            raise ValueError(f"learners file {path}: {error}") from None
    return specs, budgets


def hyperparameters(name: str) -> dict[str, Any]:
    """One set of ``hyperparams.yaml``; VecNormalize's discount is the algorithm's ``gamma``."""
    table = read_config("hyperparams.yaml")
    if name not in table:
        raise ValueError(f"unknown hyperparameter set {name!r}; allowed: {', '.join(table)}")
    chosen = dict(table[name])  # YAML aliases share objects: copy before filling in
    if "normalize" in chosen:
        chosen["normalize"] = {**chosen["normalize"], "gamma": chosen["algo"]["gamma"]}
    return chosen


def adaptation_menu() -> dict[str, dict | None]:
    """``hyperparams.yaml: adaptation_menu``: each setting's name and its changes to ``finetune``
    (None: no update), in the order ties are broken."""
    table = read_config("hyperparams.yaml")
    menu, allowed = table.get("adaptation_menu"), set(table["finetune"])
    if not isinstance(menu, dict) or not menu:
        raise ValueError(f"hyperparams.yaml: adaptation_menu must map setting names to settings; got {menu!r}")
    for name, setting in menu.items():
        if setting is not None and (not isinstance(setting, dict) or not set(setting) <= allowed):
            raise ValueError(f"hyperparams.yaml: adaptation_menu[{name!r}] must be null (no update) or changes "
                             f"to finetune's {', '.join(sorted(allowed))}; got {setting!r}")  # fmt: skip
    return {name: None if setting is None else dict(setting) for name, setting in menu.items()}


def load_agent(learner: LearnerSpec, files: Any, tasks: Any) -> Any:
    """The agent of ``learner`` (an :class:`~banana_grasp.agents.protocol.agent.Agent`), playing the
    tasks of ``tasks`` (an ``envs.EnvSpec``); a trained learner loads from ``files`` (``LearnerFiles``)."""
    import torch

    from banana_grasp.agents.learners.envs import EvalEnvs

    torch.set_num_threads(1)
    if learner.trained and files is None:
        raise ValueError(f"learner {learner.name!r} is trained: give the folder it was saved in")
    return learner.implementation.load_agent(learner, files, EvalEnvs(learner, tasks))
