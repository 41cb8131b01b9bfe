"""The evaluation protocol: the same held-out tasks and adaptation budget for every learner.

For each held-out task and each adaptation budget k: ``reset()`` the agent, ``adapt`` with
k episodes of the task (k = 0: zero-shot), play ``eval_episodes`` evaluation episodes.
Success is ``info["is_success"]`` at the **last step** of an episode (what the task asks must
still hold when time runs out, not merely at some point). Every learner and seed plays
the same tasks with the same episode seeds (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.families import Family, family_of
from banana_grasp.agents.learners.registry import LearnerSpec, adaptation_menu, load_agent
from banana_grasp.agents.protocol.agent import Agent
from banana_grasp.agents.protocol.presets import EvalProtocol
from banana_grasp.envs import Task

PHASES = ("train", "heldout")


@dataclass(frozen=True)
class Outcome:
    """One evaluation episode: a row of results.csv."""

    learner: str
    seed: int
    # train (own training variation), heldout (the protocol's evaluation tasks), validation
    # (tasks of its own training variation on which it chose its adaptation), or a cell of the
    # generalisation matrix other than the evaluation tasks' (``EvalProtocol.matrix_cells``)
    phase: str
    k: int  # adaptation episodes before this one (in phase train: the protocol's own_k)
    task: int  # index of the task in its list
    episode: int
    success: bool
    # What the episode's family reports beyond success (``Family.outcome_fields``), by column
    # of results.csv; None where it does not apply.
    fields: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict:
        return {name: getattr(self, name) for name in BASE_COLUMNS} | self.fields

    @classmethod
    def from_row(cls, row: dict) -> Outcome:
        """An outcome from a saved row (``as_row``): data, checked, never code."""
        if not isinstance(row, dict) or not set(BASE_COLUMNS) <= set(row):
            raise ValueError(f"an outcome row needs the columns {', '.join(BASE_COLUMNS)}; got {row!r:.200}")
        extra = {key: value for key, value in row.items() if key not in BASE_COLUMNS}
        if not all(isinstance(key, str) and (value is None or isinstance(value, str)) for key, value in extra.items()):
            raise ValueError(f"an outcome row's family columns must hold text or null; got {extra!r:.200}")
        return cls(*(row[name] for name in BASE_COLUMNS), fields=extra)


BASE_COLUMNS = ("learner", "seed", "phase", "k", "task", "episode", "success")


_SEED_TAGS = (*PHASES, "adaptation", "own-adaptation", "validation", "validation-adaptation")  # appended only
# The roles that choose their adaptation on validation tasks (``EvalProtocol.validation_tasks``):
# the learners the meta-gain is measured against. A meta-learner's adaptation is what it learned.
CHOOSING_ROLES = ("single-task", "multi-task")
ADAPTATION = "adaptation"  # results.csv's column naming the adaptation setting an episode followed


def episode_seed(seed: int, task: int, episode: int, tag: str, k: int = 0) -> int:
    """A seed of its own for each (training seed, task, episode, phase or adaptation, k)."""
    return int(np.random.SeedSequence([seed, task, episode, _SEED_TAGS.index(tag), k]).generate_state(1)[0])


def family_fields(agent: Agent, family: Family | None) -> dict[str, Any]:
    """What ``family`` reads off the agent's last rollout beyond success (``Family.outcome_fields``)."""
    episodes = getattr(agent, "last_episodes", None)
    return family.outcome_fields(list(episodes)) if family is not None and episodes else {}


def evaluate_heldout(
    agent: Agent, tasks: list[Task], ks: tuple[int, ...], episodes: int, seed: int, family: Family | None = None
) -> list[Outcome]:
    """Success of ``agent`` on each task after each adaptation budget in ``ks``; ``family``: the
    tasks' family, which may record more of each episode."""
    if not ks or min(ks) < 0 or episodes < 1:
        raise ValueError(f"need adaptation budgets k >= 0 and episodes >= 1; got k={ks}, episodes={episodes}")
    outcomes = []
    for t, task in enumerate(tasks):
        for k in ks:
            agent.reset()
            agent.adapt(task, k, episode_seed(seed, t, 0, "adaptation", k))
            for e in range(episodes):
                success, _ = agent.rollout(task, episode_seed(seed, t, e, "heldout", k))
                outcomes.append(Outcome(agent.name, seed, "heldout", k, t, e, success, family_fields(agent, family)))
    agent.reset()
    return outcomes


def evaluate_train(
    agent: Agent, tasks: list[Task], seed: int, k: int = 0, family: Family | None = None
) -> list[Outcome]:
    """Success on tasks of the learner's own training variation (one episode each), after ``k``
    adaptation episodes of the task (0: zero-shot)."""
    outcomes = []
    for t, task in enumerate(tasks):
        agent.reset()
        agent.adapt(task, k, episode_seed(seed, t, 0, "own-adaptation", k))
        success, _ = agent.rollout(task, episode_seed(seed, t, 0, "train"))
        outcomes.append(Outcome(agent.name, seed, "train", k, t, 0, success, family_fields(agent, family)))
    agent.reset()
    return outcomes


def evaluate_validation(
    agent: Agent, menu: dict[str, dict | None], tasks: list[Task], k: int, seed: int, family: Family | None = None
) -> list[Outcome]:
    """Success of ``agent`` on each validation task after ``k`` adaptation episodes, under each
    setting of ``menu`` in turn (the same episode seeds for every setting), each outcome naming
    its setting in ``fields["adaptation"]``."""
    outcomes = []
    for name, setting in menu.items():
        agent.use_adaptation(setting)
        for t, task in enumerate(tasks):
            agent.reset()
            agent.adapt(task, k, episode_seed(seed, t, 0, "validation-adaptation", k))
            success, _ = agent.rollout(task, episode_seed(seed, t, 0, "validation", k))
            fields = {**family_fields(agent, family), ADAPTATION: name}
            outcomes.append(Outcome(agent.name, seed, "validation", k, t, 0, success, fields))
    agent.reset()
    return outcomes


def validation_scores(outcomes: list[Outcome], learner: str, seed: int) -> dict[str, float]:
    """Mean validation success of each setting ``learner`` tried on ``seed``, in the order tried."""
    hits: dict[str, list[bool]] = {}
    for o in outcomes:
        if o.learner == learner and o.seed == seed and o.phase == "validation":
            hits.setdefault(o.fields[ADAPTATION], []).append(o.success)
    return {name: float(np.mean(values)) for name, values in hits.items()}


def chosen_setting(scores: dict[str, float]) -> str:
    """The setting of the highest validation success; a tie goes to the one tried first."""
    return max(scores, key=lambda name: (scores[name], -list(scores).index(name)))


def evaluate_one(
    spec: LearnerSpec,
    files: LearnerFiles | None,
    protocol: EvalProtocol,
    seed: int,
    menu: dict[str, dict | None] | None = None,
) -> list[Outcome]:
    """All outcomes of one (learner, seed): its choice of adaptation on validation tasks (a
    single-task or multi-task learner that adapts by fine-tuning, when the protocol has
    ``validation_tasks``), its own variation (trained learners), then the protocol's evaluation
    tasks, adapted with the setting chosen. ``files``: where the learner was saved (None if
    untrained); ``menu``: the settings to choose from (default ``hyperparams.yaml:
    adaptation_menu``). Nothing of the evaluation tasks reaches the choice."""
    outcomes: list[Outcome] = []
    chosen: dict[str, str] = {}  # the outcome field naming the setting followed, once chosen
    if spec.trained:
        own = load_agent(spec, files, protocol.own_variation(spec))
        own_family = family_of(spec.variation)
        if chooses_adaptation(spec, own, protocol):
            menu = adaptation_menu() if menu is None else menu
            tasks = protocol.validation_tasks_of(spec)
            outcomes += evaluate_validation(own, menu, tasks, protocol.headline_k, seed, own_family)
            chosen = {ADAPTATION: chosen_setting(validation_scores(outcomes, spec.name, seed))}
            own.use_adaptation(menu[chosen[ADAPTATION]])
        own_outcomes = evaluate_train(own, protocol.own_tasks(spec), seed, protocol.own_k, own_family)
        outcomes += [replace(o, fields={**o.fields, **chosen}) for o in own_outcomes]
    agent = load_agent(spec, files, protocol.evaluated_on)
    if chosen:
        agent.use_adaptation(menu[chosen[ADAPTATION]])
    heldout = evaluate_heldout(agent, protocol.evaluation_tasks(), protocol.k, protocol.eval_episodes, seed,
                               protocol.family)  # fmt: skip
    outcomes += [replace(o, fields={**o.fields, **chosen}) for o in heldout]
    for cell, tasks in protocol.matrix_cells().items() if spec.trained else ():
        if tasks == protocol.evaluated_on:  # the evaluation tasks' own cell: scored above
            continue
        cell_agent = load_agent(spec, files, tasks)
        if chosen:
            cell_agent.use_adaptation(menu[chosen[ADAPTATION]])
        played = evaluate_heldout(cell_agent, protocol.cell_tasks(cell), matrix_ks(protocol), 1, seed,
                                  family_of(tasks.variation))  # fmt: skip
        outcomes += [replace(o, phase=cell, fields={**o.fields, **chosen}) for o in played]
    return outcomes


def matrix_ks(protocol: EvalProtocol) -> tuple[int, ...]:
    """The adaptation budgets of the generalisation matrix: zero-shot and the headline k."""
    return tuple(sorted({0, protocol.headline_k}))


def chooses_adaptation(spec: LearnerSpec, agent: Agent, protocol: EvalProtocol) -> bool:
    """Whether ``spec`` chooses its adaptation on validation tasks: the protocol asks for it
    (``validation_tasks`` and a k above 0), its role is a baseline's (:data:`CHOOSING_ROLES`), and
    its agent can adapt otherwise (``use_adaptation``)."""
    return (bool(protocol.validation_tasks) and protocol.headline_k > 0 and spec.role in CHOOSING_ROLES
            and callable(getattr(agent, "use_adaptation", None)))  # fmt: skip


def success_matrix(
    outcomes: list[Outcome], learner: str, phase: str, k: int, seeds: list[int], n_tasks: int
) -> np.ndarray:
    """(n_seeds, n_tasks) mean success per seed and task after k adaptation episodes, for the statistics."""
    total = np.zeros((len(seeds), n_tasks))
    count = np.zeros((len(seeds), n_tasks))
    index = {s: i for i, s in enumerate(seeds)}
    for o in outcomes:
        if o.learner == learner and o.phase == phase and o.k == k and o.seed in index:
            total[index[o.seed], o.task] += o.success
            count[index[o.seed], o.task] += 1
    if (count == 0).any():
        raise ValueError(f"no {phase} outcomes (k={k}) for learner {learner!r} on some seed/task")
    return total / count
