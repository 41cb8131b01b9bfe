"""The protocol and the presets as data: ``config/presets/<name>.yaml``.

A preset names the learners and seeds of a comparison, their training budgets, and one
:class:`EvalProtocol`: which tasks every learner is evaluated on and with what budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from banana_grasp.agents.common.config import config_names, read_config
from banana_grasp.agents.families import (
    Family,
    check_variation,
    family_of,
    import_modules,
    task_sampler,
    variations,
)
from banana_grasp.agents.learners.checkpoints import CHECKPOINT_EVERY
from banana_grasp.agents.learners.envs import EnvSpec
from banana_grasp.agents.learners.registry import LearnerSpec, learner, read_learners_file
from banana_grasp.envs import POSITION_LAYOUTS, Task


@dataclass(frozen=True)
class EvalProtocol:
    """What every learner is evaluated on, with the same budgets for all.

    ``heldout_tasks`` tasks of ``variation``/``split`` (by default the held-out combined
    variation): for each adaptation budget in ``k`` (0 = zero-shot), the agent is reset,
    spends that many whole episodes of the task adapting, then plays ``eval_episodes``
    evaluation episodes; and ``train_tasks`` tasks of each trained learner's own training
    variation, one episode each. ``task_seed`` draws the task lists, the same for every
    learner and seed. The meta-gain's headline is at the largest k.
    """

    k: tuple[int, ...] = (0, 1)
    eval_episodes: int = 2
    heldout_tasks: int = 12
    train_tasks: int = 10
    variation: str = "both"
    split: str = "heldout"
    position_layout: str = "interleaved"
    task_seed: int = 12345
    # Adaptation episodes before each episode of the learner's own training tasks: 0 scores its
    # zero-shot policy; a family whose task is not in the observation uses the headline k, since no policy
    # without adaptation can know it there.
    own_k: int = 0
    # Tasks of a learner's own training variation on which each single-task and multi-task
    # learner that adapts by fine-tuning chooses its adaptation (``adaptation_menu``), one
    # episode each per setting; 0: no choice, every such learner uses ``finetune``.
    validation_tasks: int = 0
    # Tasks per cell of the generalisation matrix (the family's ``generalisation_cells``), each
    # trained learner scored zero-shot and after the headline k; 0: no matrix. The cell of the
    # evaluation tasks themselves is scored on them.
    matrix_tasks: int = 0

    def __post_init__(self) -> None:
        for label, value, allowed in (
            ("variation", self.variation, variations()),
            ("position_layout", self.position_layout, POSITION_LAYOUTS),
        ):
            if value not in allowed:
                raise ValueError(f"protocol: unknown {label} {value!r}; allowed: {', '.join(allowed)}")
        try:
            check_variation(self.variation, self.split)
        except ValueError as error:
            raise ValueError(f"protocol: {error}") from None
        valid = isinstance(self.k, (int, list, tuple)) and not isinstance(self.k, bool)
        ks = (self.k,) if isinstance(self.k, int) else tuple(self.k) if valid else ()
        is_count = lambda k: isinstance(k, int) and not isinstance(k, bool) and k >= 0
        if not ks or not all(is_count(k) for k in ks) or list(ks) != sorted(set(ks)):
            raise ValueError(f"protocol: k must be a non-empty increasing list of integers >= 0; got {self.k!r}")
        object.__setattr__(self, "k", ks)
        if is_count(self.own_k) and self.own_k > ks[-1]:
            raise ValueError(f"protocol: own_k must be at most the largest k ({ks[-1]}); got {self.own_k}")
        for label, value, least in (("eval_episodes", self.eval_episodes, 1),
                                    ("heldout_tasks", self.heldout_tasks, 1), ("train_tasks", self.train_tasks, 1),
                                    ("own_k", self.own_k, 0), ("validation_tasks", self.validation_tasks, 0),
                                    ("matrix_tasks", self.matrix_tasks, 0)):  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"protocol: {label} must be an integer >= {least}; got {value!r}")
        if self.matrix_tasks and not self.family.generalisation_cells():
            raise ValueError(f"protocol: matrix_tasks: the {self.family.name} family has no generalisation matrix; "
                             "leave matrix_tasks out (0)")  # fmt: skip

    @property
    def evaluated_on(self) -> EnvSpec:
        return EnvSpec(self.variation, self.split, self.position_layout)

    def own_variation(self, spec: LearnerSpec) -> EnvSpec:
        return EnvSpec(spec.variation, "train", self.position_layout)

    @property
    def tasks_label(self) -> str:
        """How tables name the evaluation tasks."""
        return self.family.tasks_label(self.variation, self.split)

    @property
    def tasks_scope(self) -> tuple[str, str, str]:
        """How report.md names the evaluation tasks: (what they are, how they are new, the finding's word)."""
        return self.family.tasks_scope(self.variation, self.split, self.position_layout)

    @property
    def family(self) -> Family:
        """The task family of the evaluation tasks (``agents.families.FAMILIES``)."""
        return family_of(self.variation)

    @property
    def headline_k(self) -> int:
        """The adaptation budget of the headline meta-gain: the largest."""
        return self.k[-1]

    @property
    def trial_episodes(self) -> int:
        """Episodes per trial of a learner that adapts in context: enough for the largest k."""
        return self.headline_k + 1

    def evaluation_tasks(self) -> list[Task]:
        return sample_tasks(self.heldout_tasks, self.task_seed, self.evaluated_on)

    def own_tasks(self, spec: LearnerSpec) -> list[Task]:
        # Their own seed, and the same list for every seed: the statistics pair them by task.
        return sample_tasks(self.train_tasks, self.task_seed + 1, self.own_variation(spec))

    def matrix_cells(self) -> dict[str, EnvSpec]:
        """The generalisation matrix's cells (none unless ``matrix_tasks``): name -> the tasks."""
        if not self.matrix_tasks:
            return {}
        cells = self.family.generalisation_cells()
        return {name: EnvSpec(variation, split, self.position_layout) for name, (variation, split, _) in cells.items()}

    def cell_tasks(self, cell: str) -> list[Task]:
        """The tasks of one cell, the same for every learner and seed; the evaluation tasks in
        the cell that is theirs."""
        cells = self.matrix_cells()
        if cells[cell] == self.evaluated_on:
            return self.evaluation_tasks()
        return sample_tasks(self.matrix_tasks, self.task_seed + 3 + list(cells).index(cell), cells[cell])

    def validation_tasks_of(self, spec: LearnerSpec) -> list[Task]:
        """Where ``spec`` chooses its adaptation: tasks of its own training variation, drawn
        apart from :meth:`own_tasks` and never from the evaluation tasks."""
        return sample_tasks(self.validation_tasks, self.task_seed + 2, self.own_variation(spec))


def sample_tasks(n: int, seed: int, tasks: EnvSpec) -> list[Task]:
    """``n`` tasks drawn with their own generator: the same list for every learner and seed."""
    distribution = task_sampler(tasks.variation, tasks.split, tasks.position_layout)
    rng = np.random.default_rng(seed)
    return [distribution.sample(rng) for _ in range(n)]


@dataclass(frozen=True)
class Preset:
    """One comparison run: learners, seeds, training budgets and the protocol."""

    name: str
    seeds: tuple[int, ...]
    learners: tuple[str, ...]
    train_steps: dict[str, int]  # learner name or kind -> env steps (a name wins over its kind)
    protocol: EvalProtocol
    video_tasks: int = 3  # held-out tasks filmed, every learner side by side
    # Training stops once a learner's training success (3 rollouts) reaches this; None: the whole budget.
    stop_at_success: float | None = None
    algo_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> algorithm settings
    # Env steps between a training's checkpoints; its streams start afresh at each (learners.checkpoints).
    checkpoint_every: int = CHECKPOINT_EVERY
    # Modules that register task families of one's own (agents.families.register), imported
    # before the protocol is read: import paths, as learner kinds of one's own are named.
    families: tuple[str, ...] = ()
    # Learners of one's own, from a learners file (with_learners_file); not a key of the preset files.
    outside_learners: tuple[LearnerSpec, ...] = ()

    def steps_for(self, spec: LearnerSpec) -> int:
        for key in (spec.name, spec.kind):
            if key in self.train_steps:
                return int(self.train_steps[key])
        raise ValueError(f"preset {self.name!r} has no train_steps for learner {spec.name!r} or its kind {spec.kind!r}")

    def specs(self) -> list[LearnerSpec]:
        outside = {spec.name: spec for spec in self.outside_learners}
        return [outside[name] if name in outside else learner(name) for name in self.learners]


def with_learners_file(chosen: Preset, path: Path) -> Preset:
    """``chosen`` with the learners of the learners file ``path`` added (``registry.read_learners_file``):
    each trained one's budget is the preset's for its name, else the file's ``steps``."""
    specs, budgets = read_learners_file(path)
    steps = {**{name: int(value) for name, value in budgets.items()}, **chosen.train_steps}
    result = replace(chosen, learners=(*chosen.learners, *specs), train_steps=steps,
                     outside_learners=(*chosen.outside_learners, *specs.values()))  # fmt: skip
    for spec in specs.values():
        if spec.trained and spec.name not in steps and spec.kind not in steps:
            raise ValueError(f"learners file {path}: learner {spec.name!r} trains: give it `steps` (its budget in env "
                             f"steps), or name it in preset {chosen.name!r}'s train_steps")  # fmt: skip
    return result


@dataclass(frozen=True)
class Suite:
    """A preset that runs other presets, one per task family, each into a folder of its own
    (``parts: [...]`` in its file, nothing else)."""

    name: str
    parts: tuple[str, ...]


def preset_names() -> list[str]:
    return config_names("presets")


def is_preset_file(name: str) -> bool:
    """Whether ``name`` names a preset file of one's own (a path ending in .yaml) rather than a package preset."""
    return str(name).endswith((".yaml", ".yml"))


def _read_preset(name: str) -> dict[str, Any]:
    """A package preset by name, or a preset file of one's own by its path (read as data: YAML's safe loader)."""
    if is_preset_file(name):
        try:
            values = yaml.safe_load(Path(name).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"cannot read the preset file {name}: {error}") from None
        if not isinstance(values, dict):
            raise ValueError(
                f"preset file {name}: must map the preset's keys to values, as agents/config/presets/*.yaml"
            )
        return values
    names = preset_names()
    if name not in names:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(names)}, or the path of a preset file (.yaml)")
    return dict(read_config(f"presets/{name}.yaml"))


def suite(name: str) -> Suite | None:
    """The suite ``name`` is, or None where it is a preset of one comparison."""
    values = _read_preset(name)
    if "parts" not in values:
        return None
    parts = values.pop("parts")
    if values:
        raise ValueError(f"preset {name!r} is a suite: it holds only `parts`, not {sorted(values)}")
    singles = [n for n in preset_names() if "parts" not in read_config(f"presets/{n}.yaml")]
    if not isinstance(parts, list) or not parts or any(part not in singles for part in parts):
        raise ValueError(f"preset {name!r}: parts must be a list of presets of one comparison "
                         f"({', '.join(singles)}); got {parts!r}")  # fmt: skip
    return Suite(name, tuple(parts))


def preset_for(name: str, learner_name: str | None) -> Preset:
    """``name``'s preset; for a suite, its first part that trains ``learner_name``."""
    chosen = suite(name)
    if chosen is None:
        return preset(name)
    for part in map(preset, chosen.parts):
        if learner_name in part.learners:
            return part
    which = f"none of them trains learner {learner_name!r}" if learner_name else "no learner was named to pick one"
    raise ValueError(f"preset {name!r} runs the presets {', '.join(chosen.parts)}, and {which}: name with --preset "
                     f"a preset that trains it (banana-grasp compare --help lists them)")  # fmt: skip


def preset(name: str) -> Preset:
    values = _read_preset(name)
    if "parts" in values:
        raise ValueError(f"preset {name!r} runs the presets {', '.join(values['parts'])}, one comparison each: "
                         "name one of them")  # fmt: skip
    allowed = {f.name for f in fields(Preset)} - {"name", "outside_learners"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"preset {name!r}: unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    modules = values.get("families", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise ValueError(f"preset {name!r}: families must be a list of module import paths; got {modules!r}")
    import_modules(modules)
    values["families"] = tuple(modules)
    protocol = values.pop("protocol", {})
    protocol_keys = {f.name for f in fields(EvalProtocol)}
    if set(protocol) - protocol_keys:
        raise ValueError(f"preset {name!r}: unknown protocol keys {sorted(set(protocol) - protocol_keys)}; "
                         f"allowed: {', '.join(sorted(protocol_keys))}")  # fmt: skip
    result = Preset(name=name, protocol=EvalProtocol(**protocol), **{**values, "seeds": tuple(values["seeds"]),
                    "learners": tuple(values["learners"])})  # fmt: skip
    stop = result.stop_at_success
    if stop is not None and not (isinstance(stop, (int, float)) and not isinstance(stop, bool) and 0 < stop <= 1):
        raise ValueError(f"preset {name!r}: stop_at_success must be a success rate in (0, 1] or null; got {stop!r}")
    every = result.checkpoint_every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"preset {name!r}: checkpoint_every must be a whole number of env steps >= 1; got {every!r}")
    specs = result.specs()
    for spec in specs:  # every learner exists, and every trained one has a budget
        if spec.trained:
            result.steps_for(spec)
    check_budgets(result, specs)
    return result


def check_budgets(chosen: Preset, specs: list[LearnerSpec]) -> None:
    """A budget for a learner or kind that the preset does not train is an error: it reads as
    if that learner ran."""
    trained = {spec.name for spec in specs if spec.trained} | {spec.kind for spec in specs if spec.trained}
    unused = sorted(set(chosen.train_steps) - trained)
    if unused:
        raise ValueError(f"preset {chosen.name!r}: train_steps budgets {unused}, which none of its learners is or "
                         f"is of the kind of; its trained learners and kinds: {', '.join(sorted(trained))}")  # fmt: skip
