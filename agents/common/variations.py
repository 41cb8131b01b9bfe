"""The variations learners are trained and evaluated on, across the two task families.

The lift family (``banana_grasp.envs.VARIATIONS``): one banana, whose colour, position or
both vary. The hidden-target family (``HiddenTargetEnv``): two bananas, and a hidden rule, the
target hue, decides which one pays. Its variations:

- ``hidden-target``: every rule of the split (the pooled rules of the multi-task learner and
  the meta-learners, and the held-out rules of the evaluation);
- ``hidden-target-<colour>``: one fixed rule (train split only), the task of a single-task
  learner: the target is always the banana of that hue, the decoy and the poses vary.

A learner's variation names its env id and how its tasks are drawn, whatever the family.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from banana_grasp.envs import HIDDEN_TARGET_IDS, SPLITS, HiddenTargetTask, env_id, hidden_target_space
from banana_grasp.envs import VARIATIONS as LIFT_VARIATIONS
from banana_grasp.envs import task_distribution as lift_distribution

HIDDEN_TARGET = "hidden-target"
# One fixed rule each, by name: target hues in the middle of train hue bands (yellow: the lift
# env's default banana; blue: the band opposite it on the hue circle).
HIDDEN_TARGET_RULES: dict[str, HiddenTargetTask] = {
    f"{HIDDEN_TARGET}-yellow": HiddenTargetTask(0.16),
    f"{HIDDEN_TARGET}-blue": HiddenTargetTask(0.66),
}
VARIATIONS: tuple[str, ...] = (*LIFT_VARIATIONS, HIDDEN_TARGET, *HIDDEN_TARGET_RULES)


def family(variation: str) -> str:
    """``lift`` or ``hidden-target``; raises ValueError, naming the allowed variations, on an unknown one."""
    check_variation(variation)
    return "lift" if variation in LIFT_VARIATIONS else "hidden-target"


def check_variation(variation: str, split: str = "train") -> None:
    if variation not in VARIATIONS:
        raise ValueError(f"unknown variation {variation!r}; allowed: {', '.join(VARIATIONS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    if variation in HIDDEN_TARGET_RULES and split != "train":
        raise ValueError(f"variation {variation!r} is one training rule: it has no {split!r} split; "
                         f"for held-out rules use {HIDDEN_TARGET!r}")  # fmt: skip


def variation_env_id(variation: str, split: str) -> str:
    """The registered id whose env draws this variation's tasks (a fixed rule is pinned by the caller)."""
    if family(variation) == "lift":
        return env_id(variation, split)
    check_variation(variation, split)
    return next(id_ for id_, id_split in HIDDEN_TARGET_IDS.items() if id_split == split)


def pinned_rule(variation: str) -> HiddenTargetTask | None:
    """The one rule of a fixed-rule variation (every episode uses it), else None."""
    return HIDDEN_TARGET_RULES.get(variation)


@dataclass(frozen=True)
class _OneRule:
    rule: HiddenTargetTask

    def sample(self, rng: np.random.Generator) -> HiddenTargetTask:
        return self.rule


def task_sampler(variation: str, split: str, position_layout: str):
    """Draws the tasks of a variation and split with ``.sample(rng)``: lift tasks (``Task``) or
    hidden-target rules (``HiddenTargetTask``; the pair's cells have one layout, so
    ``position_layout`` applies to the lift family only)."""
    if family(variation) == "lift":
        return lift_distribution(variation, split, position_layout)
    check_variation(variation, split)
    rule = pinned_rule(variation)
    return _OneRule(rule) if rule is not None else hidden_target_space(split)
