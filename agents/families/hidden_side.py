"""The hidden-side family (``HiddenSideEnv``): two bananas, the left one always in slot ``a``,
and a hidden rule, ``left`` or ``right``, says which one pays. The suite's positive control.

Its variations:

- ``hidden-side``: both rules (the multi-task learner, the meta-learners and the oracle train
  on it; the evaluation's held-out scenes draw both);
- ``hidden-side-left`` and ``hidden-side-right``: one fixed rule each (train split only), the
  single-task learners' tasks.

Its episodes report what they ended holding (``lifted``) and what their first pad contact
touched (``touched``), the choice; the in-context table groups a trial's scored episode by
what the trial's first episode touched, the moment its reward said which side pays.
"""

from __future__ import annotations

from typing import Any

from banana_grasp.agents.families.two_bananas import OneTask, TwoBananaFamily
from banana_grasp.envs import HIDDEN_SIDE_IDS, HiddenSideTask, hidden_side_space

HIDDEN_SIDE = "hidden-side"
HIDDEN_SIDE_RULES: dict[str, HiddenSideTask] = {
    f"{HIDDEN_SIDE}-{side}": HiddenSideTask(side) for side in ("left", "right")
}


class HiddenSideFamily(TwoBananaFamily):
    name = HIDDEN_SIDE
    variations = (HIDDEN_SIDE, *HIDDEN_SIDE_RULES)
    ids = HIDDEN_SIDE_IDS
    rules = HIDDEN_SIDE_RULES
    first_choice = "touched"
    held_out_words = ("held-out scenes", "both rules, new hues in new hue bands, the pair's middle in new cells",
                      "held-out-scene")  # fmt: skip

    def task_sampler(self, variation: str, split: str, position_layout: str) -> Any:
        """Hidden-side rules (``HiddenSideTask``; the pair's cells have one layout)."""
        self.check(variation, split)
        rule = self.pinned_task(variation)
        return OneTask(rule) if rule is not None else hidden_side_space(split)

    def task_shown_kwargs(self) -> dict[str, Any]:
        return {"show_rule": True}

    def findings(self, summary: dict, tasks: str = "held-out") -> list[str]:
        """The two-banana claims, then the two references this family sets: the oracle's success
        (the ceiling of a learner that knows the rule) and the memoryless learners' cap."""
        k, words = summary["headline_k"], super().findings(summary, tasks)
        for name, row in summary["learners"].items():
            after = row["heldout_success"][str(k)]
            if row.get("shows_task"):
                own = row["train_success"]
                own_words = f"{own['mean']:.2f} on its own tasks, " if own else ""
                words.append(f"{name} is shown the rule (an oracle): {own_words}{after['mean']:.2f} "
                             f"[{after['ci'][0]:.2f}, {after['ci'][1]:.2f}] on the {tasks} tasks after k={k}, the "
                             "ceiling of a learner that knows which side pays.")  # fmt: skip
            elif row["role"] == "multi-task" and "0" in row["heldout_success"]:
                zero = row["heldout_success"]["0"]
                words.append(f"{name} has no memory and is not shown the rule, so zero-shot, on tasks of both "
                             f"rules, its expected success is at most 0.5: it scored {zero['mean']:.2f} zero-shot "
                             f"and {after['mean']:.2f} after k={k} (its own adaptation) on the {tasks} tasks.")  # fmt: skip
        return words
