"""The hidden-target family (``HiddenTargetEnv``): two bananas, and a hidden rule, the target
hue, decides which one pays.

Its variations:

- ``hidden-target``: every rule of the split (the pooled rules of the multi-task learner and
  the meta-learners, and the held-out rules of the evaluation);
- ``hidden-target-<colour>``: one fixed rule (train split only), the task of a single-task
  learner: the target is always the banana of that hue, the decoy and the poses vary.
"""

from __future__ import annotations

from typing import Any

from banana_grasp.agents.families.two_bananas import OneTask, TwoBananaFamily
from banana_grasp.envs import HIDDEN_TARGET_IDS, HiddenTargetTask, hidden_target_space

HIDDEN_TARGET = "hidden-target"
# One fixed rule each, by name: target hues in the middle of train hue bands (yellow: the lift
# env's default banana; blue: the band opposite it on the hue circle).
HIDDEN_TARGET_RULES: dict[str, HiddenTargetTask] = {
    f"{HIDDEN_TARGET}-yellow": HiddenTargetTask(0.16),
    f"{HIDDEN_TARGET}-blue": HiddenTargetTask(0.66),
}


class HiddenTargetFamily(TwoBananaFamily):
    name = HIDDEN_TARGET
    variations = (HIDDEN_TARGET, *HIDDEN_TARGET_RULES)
    ids = HIDDEN_TARGET_IDS
    rules = HIDDEN_TARGET_RULES
    held_out_words = ("held-out rules", "new target hues in new hue bands, the pair's middle in new cells",
                      "held-out-rule")  # fmt: skip

    def task_sampler(self, variation: str, split: str, position_layout: str) -> Any:
        """Hidden-target rules (``HiddenTargetTask``; the pair's cells have one layout, so
        ``position_layout`` does not apply)."""
        self.check(variation, split)
        rule = self.pinned_task(variation)
        return OneTask(rule) if rule is not None else hidden_target_space(split)
