"""From evaluation outcomes to the numbers of the comparison: success with CIs, meta-gains."""

from __future__ import annotations

import numpy as np

from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.protocol import stats
from banana_grasp.agents.protocol.evaluation import (
    Outcome,
    chosen_setting,
    matrix_ks,
    success_matrix,
    validation_scores,
)
from banana_grasp.agents.protocol.presets import EvalProtocol


def summarize(
    outcomes: list[Outcome], learners: list[LearnerSpec], seeds: list[int], protocol: EvalProtocol, reps: int = 2000
) -> dict:
    """Per learner: success on its own training variation and on the evaluation tasks after
    each adaptation budget k, with CIs; per meta-learner and k: the gain over the best
    single-task learner (the max re-taken in each bootstrap replicate) and over the
    multi-task learner. JSON keys for k are strings (``"0"``, ``"1"``, ...).
    """
    heldout = {
        k: {s.name: success_matrix(outcomes, s.name, "heldout", k, seeds, protocol.heldout_tasks) for s in learners}
        for k in protocol.k
    }
    own = {
        s.name: success_matrix(outcomes, s.name, "train", protocol.own_k, seeds, protocol.train_tasks)
        for s in learners
        if s.trained
    }
    heldout_estimates = {k: stats.interval_estimates(scores, reps=reps) for k, scores in heldout.items()}
    own_estimates = stats.interval_estimates(own, reps=reps) if own else {}
    table = {}
    for spec in learners:
        table[spec.name] = {
            "role": spec.role,
            "kind": spec.kind,
            "variation": spec.variation,
            "greyscale": spec.greyscale,
            **({"shows_task": True} if spec.shows_task else {}),  # an oracle: its task in its observation
            "train_success": own_estimates[spec.name].as_dict() if spec.name in own_estimates else None,
            "train_success_per_seed": [float(v) for v in own[spec.name].mean(axis=1)] if spec.name in own else None,
            "heldout_success": {str(k): heldout_estimates[k][spec.name].as_dict() for k in protocol.k},
            **({"adaptation": adaptation_record(outcomes, spec.name, seeds)} if spec.trained else {}),
            **(
                {"generalisation": generalisation_record(outcomes, spec.name, seeds, protocol, reps)}
                if spec.trained and protocol.matrix_cells()
                else {}
            ),
        }

    singles = [s.name for s in learners if s.role == "single-task"]
    multitask = [s.name for s in learners if s.role == "multi-task"]
    gains: dict[str, dict] = {}
    for meta in (s.name for s in learners if s.role == "meta"):
        gains[meta] = {}
        for k, scores in heldout.items():
            gain = {}
            if singles:
                gain["vs_best_single"] = stats.meta_gain(scores[meta], {n: scores[n] for n in singles}, reps=reps)
            if multitask:
                gain["vs_multitask"] = stats.meta_gain(scores[meta], {multitask[0]: scores[multitask[0]]}, reps=reps)
            gains[meta][str(k)] = {label: estimate.as_dict() for label, estimate in gain.items()}
    return {
        "learners": table,
        "meta_gain": gains,
        "k": list(protocol.k),
        "headline_k": protocol.headline_k,
        "own_k": protocol.own_k,
        **protocol.family.summarize(outcomes, learners, protocol),
    }


def adaptation_record(outcomes: list[Outcome], learner: str, seeds: list[int]) -> dict:
    """How ``learner`` adapted on the evaluation tasks: the setting each seed chose and each
    setting's validation success (mean over seeds, and per seed); ``chosen`` None where it chose
    nothing (it adapts as its kind does: a meta-learner's inner loop or memory)."""
    scores = {seed: validation_scores(outcomes, learner, seed) for seed in seeds}
    if not any(scores.values()):
        return {"chosen": None, "validation": None}
    if not all(scores.values()):
        raise ValueError(f"{learner}: validation outcomes for some seeds only ({[s for s in seeds if scores[s]]})")
    k = next(o.k for o in outcomes if o.learner == learner and o.phase == "validation")
    settings = list(scores[seeds[0]])
    return {
        "k": k,
        "chosen": {str(seed): chosen_setting(scores[seed]) for seed in seeds},
        "validation": {name: float(np.mean([scores[seed][name] for seed in seeds])) for name in settings},
        "validation_per_seed": {name: [scores[seed][name] for seed in seeds] for name in settings},
    }


def generalisation_record(
    outcomes: list[Outcome], learner: str, seeds: list[int], protocol: EvalProtocol, reps: int
) -> dict:
    """``learner``'s success on each cell of the generalisation matrix, zero-shot and after the
    headline k (keys ``"0"``, ...), each with its seed-level interval; each cell's own tasks."""
    record = {}
    for cell, tasks in protocol.matrix_cells().items():
        phase, n = (
            ("heldout", protocol.heldout_tasks) if tasks == protocol.evaluated_on else (cell, protocol.matrix_tasks)
        )
        record[cell] = {
            str(k): stats.interval_estimates({cell: success_matrix(outcomes, learner, phase, k, seeds, n)}, reps=reps)[
                cell
            ].as_dict()
            for k in matrix_ks(protocol)
        }
    return record
