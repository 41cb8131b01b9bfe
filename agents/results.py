"""From evaluation outcomes to the numbers of the comparison: success with CIs, meta-gain."""

from __future__ import annotations

from banana_grasp.agents import stats
from banana_grasp.agents.evaluation import Outcome, success_matrix
from banana_grasp.agents.specs import LearnerSpec


def summarize(
    outcomes: list[Outcome],
    learners: list[LearnerSpec],
    seeds: list[int],
    n_heldout_tasks: int,
    n_train_tasks: int,
    k: int,
    reps: int = 2000,
) -> dict:
    """Per-learner success (train, held-out zero-shot, held-out adapted) and meta-gains.

    The meta-gain is measured after adaptation (phase ``adapted``, or ``zero-shot`` when
    k = 0) against the best single-task learner, the max re-taken in each bootstrap
    replicate, and against the multi-task learner.
    """
    adapted_phase = "adapted" if k > 0 else "zero-shot"
    scores = {phase: {} for phase in ("train", "zero-shot", adapted_phase)}
    for spec in learners:
        # Untrained references (random, expert) are only measured held out.
        phases = ("zero-shot", adapted_phase) + (("train",) if spec.trained else ())
        for phase in phases:
            n_tasks = n_train_tasks if phase == "train" else n_heldout_tasks
            scores[phase][spec.name] = success_matrix(outcomes, spec.name, phase, seeds, n_tasks)
    estimates = {phase: stats.interval_estimates(table, reps=reps) for phase, table in scores.items() if table}
    table = {}
    for spec in learners:
        row = {"role": spec.role, "kind": spec.kind, "variation": spec.variation, "greyscale": spec.greyscale}
        train = estimates.get("train", {}).get(spec.name)
        row["train_success"] = train.as_dict() if train else None
        row["heldout_success"] = estimates["zero-shot"][spec.name].as_dict()
        row["heldout_success_adapted"] = estimates[adapted_phase][spec.name].as_dict()
        table[spec.name] = row

    adapted = scores[adapted_phase]
    singles = {s.name: adapted[s.name] for s in learners if s.role == "single-task"}
    multitask = [s.name for s in learners if s.role == "multi-task"]
    gains = {}
    for meta in (s.name for s in learners if s.role == "meta"):
        gain = {}
        if singles:
            gain["vs_best_single"] = stats.meta_gain(adapted[meta], singles, reps=reps).as_dict()
        if multitask:
            gain["vs_multitask"] = stats.meta_gain(
                adapted[meta], {multitask[0]: adapted[multitask[0]]}, reps=reps
            ).as_dict()
        gains[meta] = gain
    return {"learners": table, "meta_gain": gains, "gain_phase": adapted_phase}


def _fmt(estimate: dict | None) -> str:
    if estimate is None:
        return "n/a"
    low, high = estimate["ci"]
    return f"{estimate['mean']:.2f} [{low:.2f}, {high:.2f}]"


def markdown_tables(summary: dict, k: int, tasks: str = "held-out") -> str:
    """The report's tables; ``tasks`` names the evaluation tasks in the column headers."""
    lines = [
        f"| learner | role | trained on | own-variation success | {tasks}, zero-shot | {tasks}, after k={k} |",
        "|---|---|---|---:|---:|---:|",
    ]
    for name, row in summary["learners"].items():
        variation = row["variation"] + (" (grey)" if row["greyscale"] else "")
        lines.append(
            f"| {name} | {row['role']} | {variation} | {_fmt(row['train_success'])} | "
            f"{_fmt(row['heldout_success'])} | {_fmt(row['heldout_success_adapted'])} |"
        )
    if summary["meta_gain"]:
        lines += ["", "| meta-learner | gain vs | gain [95% CI] | P(meta > baseline) |", "|---|---|---:|---:|"]
        for meta, gains in summary["meta_gain"].items():
            for label, gain in gains.items():
                against = (
                    "best single-task (" + ", ".join(gain["baselines"]) + ")"
                    if label == "vs_best_single"
                    else gain["baselines"][0]
                )
                lines.append(
                    f"| {meta} | {against} | {gain['mean']:+.2f} [{gain['ci'][0]:+.2f}, {gain['ci'][1]:+.2f}] | {gain['p_improvement']:.2f} |"
                )
    return "\n".join(lines)
