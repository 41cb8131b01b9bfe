"""Evaluate a set of saved learners under the protocol and summarise the results."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from banana_grasp.agents.adaptation import load_agent
from banana_grasp.agents.evaluation import Outcome, evaluate_heldout, evaluate_train, sample_tasks
from banana_grasp.agents.results import summarize
from banana_grasp.agents.specs import LearnerSpec


def learner_folder(run: Path, name: str, seed: int) -> Path:
    return Path(run) / "learners" / name / f"seed{seed}"


def evaluate_one(
    spec: LearnerSpec,
    run: Path,
    seed: int,
    k: int,
    episodes: int,
    n_tasks: int,
    n_train_tasks: int,
    task_seed: int,
    variation: str = "both",
    split: str = "heldout",
    position_layout: str = "interleaved",
) -> list[Outcome]:
    """All outcomes of one (learner, seed): its own variation, then the held-out tasks."""
    folder = learner_folder(run, spec.name, seed) if spec.trained else None
    outcomes: list[Outcome] = []
    if spec.trained:
        own = load_agent(spec, folder, spec.variation, "train", position_layout)
        # The same tasks for every seed: the bootstrap treats tasks as strata.
        train_tasks = sample_tasks(n_train_tasks, task_seed + 1, spec.variation, "train", position_layout)
        outcomes += evaluate_train(own, train_tasks, seed)
    agent = load_agent(spec, folder, variation, split, position_layout)
    tasks = sample_tasks(n_tasks, task_seed, variation, split, position_layout)
    outcomes += evaluate_heldout(agent, tasks, k, episodes, seed)
    return outcomes


def evaluate_learners(
    specs: list[LearnerSpec],
    run: Path,
    seeds: list[int],
    k: int,
    episodes: int,
    n_tasks: int,
    n_train_tasks: int,
    task_seed: int,
    variation: str = "both",
    split: str = "heldout",
    position_layout: str = "interleaved",
    progress: bool = False,
) -> tuple[list[Outcome], dict]:
    outcomes: list[Outcome] = []
    jobs = [(spec, seed) for spec in specs for seed in seeds]
    for spec, seed in tqdm(jobs, desc="evaluating", disable=not progress):
        outcomes += evaluate_one(spec, run, seed, k, episodes, n_tasks, n_train_tasks, task_seed,
                                 variation, split, position_layout)  # fmt: skip
    return outcomes, summarize(outcomes, specs, list(seeds), n_tasks, n_train_tasks, k)
