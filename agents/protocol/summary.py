"""From evaluation outcomes to the numbers of the comparison: success with CIs, meta-gain."""

from __future__ import annotations

from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.protocol import stats
from banana_grasp.agents.protocol.evaluation import Outcome, success_matrix
from banana_grasp.agents.protocol.presets import EvalProtocol


def summarize(
    outcomes: list[Outcome], learners: list[LearnerSpec], seeds: list[int], protocol: EvalProtocol, reps: int = 2000
) -> dict:
    """Per-learner success (train, held-out zero-shot, held-out adapted) and meta-gains.

    The meta-gain is measured after adaptation (phase ``adapted``, or ``zero-shot`` when
    k = 0) against the best single-task learner, the max re-taken in each bootstrap
    replicate, and against the multi-task learner.
    """
    adapted_phase = protocol.gain_phase
    scores = {phase: {} for phase in ("train", "zero-shot", adapted_phase)}
    for spec in learners:
        # Untrained references (random, expert) are only measured held out.
        phases = ("zero-shot", adapted_phase) + (("train",) if spec.trained else ())
        for phase in phases:
            n_tasks = protocol.train_tasks if phase == "train" else protocol.heldout_tasks
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
