"""The evaluation protocol: the same held-out tasks and adaptation budget for every learner.

For each held-out task: ``reset()`` the agent, play ``eval_episodes`` zero-shot episodes,
``adapt`` with ``k`` episodes of the task, play ``eval_episodes`` adapted episodes. Success
is ``info["is_success"]`` at the **last step** of an episode (the banana must still be
held when time runs out, not merely lifted at some point).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from banana_grasp.agents.common.layout import LearnerFiles
from banana_grasp.agents.learners.registry import LearnerSpec, load_agent
from banana_grasp.agents.protocol.agent import Agent
from banana_grasp.agents.protocol.presets import EvalProtocol
from banana_grasp.envs import Task

PHASES = ("train", "zero-shot", "adapted")


@dataclass(frozen=True)
class Outcome:
    """One evaluation episode: a row of results.csv."""

    learner: str
    seed: int
    phase: str  # train (own training variation), zero-shot or adapted (held-out tasks)
    task: int  # index of the task in its list
    episode: int
    success: bool

    def as_row(self) -> dict:
        return asdict(self)


_SEED_TAGS = (*PHASES, "adaptation")


def episode_seed(seed: int, task: int, episode: int, tag: str) -> int:
    """A seed of its own for each (training seed, task, episode, phase or adaptation)."""
    return int(np.random.SeedSequence([seed, task, episode, _SEED_TAGS.index(tag)]).generate_state(1)[0])


def evaluate_heldout(agent: Agent, tasks: list[Task], k: int, episodes: int, seed: int) -> list[Outcome]:
    """Zero-shot and k-episode-adapted success of ``agent`` on each task."""
    if k < 0 or episodes < 1:
        raise ValueError(f"need k >= 0 and episodes >= 1; got k={k}, episodes={episodes}")
    outcomes = []
    for t, task in enumerate(tasks):
        agent.reset()
        phases = ("zero-shot", "adapted") if k > 0 else ("zero-shot",)
        for phase in phases:
            if phase == "adapted":
                agent.adapt(task, k, episode_seed(seed, t, 0, "adaptation"))
            for e in range(episodes):
                success, _ = agent.rollout(task, episode_seed(seed, t, e, phase))
                outcomes.append(Outcome(agent.name, seed, phase, t, e, success))
    agent.reset()
    return outcomes


def evaluate_train(agent: Agent, tasks: list[Task], seed: int) -> list[Outcome]:
    """Zero-shot success on tasks of the learner's own training variation (one episode each)."""
    agent.reset()
    return [
        Outcome(agent.name, seed, "train", t, 0, agent.rollout(task, episode_seed(seed, t, 0, "train"))[0])
        for t, task in enumerate(tasks)
    ]


def evaluate_one(spec: LearnerSpec, files: LearnerFiles | None, protocol: EvalProtocol, seed: int) -> list[Outcome]:
    """All outcomes of one (learner, seed): its own variation (trained learners), then the
    protocol's evaluation tasks. ``files``: where the learner was saved (None if untrained)."""
    outcomes: list[Outcome] = []
    if spec.trained:
        own = load_agent(spec, files, protocol.own_variation(spec))
        outcomes += evaluate_train(own, protocol.own_tasks(spec), seed)
    agent = load_agent(spec, files, protocol.evaluated_on)
    outcomes += evaluate_heldout(agent, protocol.evaluation_tasks(), protocol.k, protocol.eval_episodes, seed)
    return outcomes


def success_matrix(outcomes: list[Outcome], learner: str, phase: str, seeds: list[int], n_tasks: int) -> np.ndarray:
    """(n_seeds, n_tasks) mean success per seed and task, for the statistics."""
    total = np.zeros((len(seeds), n_tasks))
    count = np.zeros((len(seeds), n_tasks))
    index = {s: i for i, s in enumerate(seeds)}
    for o in outcomes:
        if o.learner == learner and o.phase == phase and o.seed in index:
            total[index[o.seed], o.task] += o.success
            count[index[o.seed], o.task] += 1
    if (count == 0).any():
        raise ValueError(f"no {phase} outcomes for learner {learner!r} on some seed/task")
    return total / count
