"""From evaluation outcomes to the numbers of the comparison: success with CIs, meta-gains."""

from __future__ import annotations

import numpy as np

from banana_grasp.agents.learners.registry import LearnerSpec
from banana_grasp.agents.protocol import stats
from banana_grasp.agents.protocol.evaluation import Outcome, success_matrix
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
            "train_success": own_estimates[spec.name].as_dict() if spec.name in own_estimates else None,
            "train_success_per_seed": [float(v) for v in own[spec.name].mean(axis=1)] if spec.name in own else None,
            "heldout_success": {str(k): heldout_estimates[k][spec.name].as_dict() for k in protocol.k},
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
    choice = banana_choice(outcomes, learners, protocol)
    memory = in_context_choice(outcomes, learners, protocol)
    return {
        "learners": table,
        "meta_gain": gains,
        "k": list(protocol.k),
        "headline_k": protocol.headline_k,
        "own_k": protocol.own_k,
        **({"banana_choice": choice} if choice else {}),
        **({"in_context_choice": memory} if memory else {}),
    }


FIRST_ROLES = ("target", "decoy", "none")


def _target_share(held: list[bool]) -> dict:
    """How many of ``held`` are the target, their share and its Clopper-Pearson 95% interval."""
    share = float(np.mean(held)) if held else None
    ci = list(stats.exact_interval(np.asarray(held, float), 0.95)) if held else None
    return {"target": int(sum(held)), "target_share": share, "target_share_ci": ci}


def held_shares(roles: list[str]) -> dict:
    """Of episodes ending with ``roles`` (target, decoy or none): how many, how many held a
    banana, and the target's share of those."""
    held = [role == "target" for role in roles if role != "none"]
    return {"episodes": len(roles), "held": len(held), **_target_share(held)}


def in_context_choice(outcomes: list[Outcome], learners: list[LearnerSpec], protocol: EvalProtocol) -> dict:
    """The hidden-target family, for a learner that adapts in context (RL^2; empty for the
    others): of its scored episodes of its own rules (after ``own_k``) and of the evaluation
    tasks (after the headline k), grouped by which banana the trial's first episode ended
    holding: how many trials, how many of their scored episodes ended holding a banana, and the
    target's share of those (Clopper-Pearson 95% interval), as in :func:`banana_choice`. A
    learner that reads the first episode's rewards keeps the target after a target and takes
    the other banana after the decoy; one that does not takes the target as often after either."""
    memory: dict[str, dict] = {}
    for spec in learners:
        rows = {}
        for label, phase, k in (("own", "train", protocol.own_k), ("evaluation", "heldout", protocol.headline_k)):
            scored = [o for o in outcomes
                      if o.learner == spec.name and o.phase == phase and o.k == k and o.first_lifted is not None]  # fmt: skip
            if scored:
                groups = {first: [o.lifted for o in scored if o.first_lifted == first] for first in FIRST_ROLES}
                rows[label] = {first: held_shares(roles) for first, roles in groups.items()}
        if rows:
            memory[spec.name] = rows
    return memory


def banana_choice(outcomes: list[Outcome], learners: list[LearnerSpec], protocol: EvalProtocol) -> dict:
    """The hidden-target family (empty for the lift env): per learner, of its episodes of its
    own rules (after ``own_k``) and of the evaluation tasks (after the headline k), how many
    ended holding a banana and how many the target, pooled over seeds and tasks; and the
    target's share of those holds with its Clopper-Pearson 95% interval (episodes counted as
    independent), to tell a learner that lifts but picks either banana from one that picks
    the target."""
    choice: dict[str, dict] = {}
    for spec in learners:
        rows = {}
        for label, phase, k in (("own", "train", protocol.own_k), ("evaluation", "heldout", protocol.headline_k)):
            roles = [o.lifted for o in outcomes
                     if o.learner == spec.name and o.phase == phase and o.k == k and o.lifted is not None]  # fmt: skip
            if not roles:
                continue
            rows[label] = held_shares(roles)
        if rows:
            choice[spec.name] = rows
    return choice
